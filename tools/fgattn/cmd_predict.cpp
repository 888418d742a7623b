// `fgattn predict FILE... --out PLAN`: a plan from captured Q and K by a predictor on the CPU (the exact oracle, or
// Top-CDF), saved in the plan file format (src/core/plan_file.cpp) that fgattn::load_plan and fgattn.Plan.load read,
// so a pipeline can run plans made offline.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "fgattn/plan.h"
#include "fgattn/predict.h"
#include "inputs.h"

namespace fgattn::cli {

void add_predict_command(CLI::App& app) {
  struct PredictOptions {
    std::vector<std::string> files;
    std::string layout = "bshd", predictor = "oracle", out;
    std::int64_t heads = 0;
    int block_m = 128, block_n = 1, pool = 16, threads = 0;
    double tau = -1.0, sim_threshold = 0.5;
    bool json = false;
  };
  auto options = std::make_shared<PredictOptions>();
  auto* predict = app.add_subcommand("predict", "Build a plan from captured Q, K (oracle or Top-CDF, on the CPU) and "
                                                "save it as a plan file");
  predict->add_option("files", options->files, "A .safetensors file, or three .npy files (q, k, v)")
      ->required()
      ->check(CLI::ExistingFile);
  predict->add_option("-o,--out", options->out, "The plan file to write")->required();
  predict->add_option("--layout", options->layout, "Tensor layout in the file")
      ->check(CLI::IsMember({"bshd", "bhsd"}))
      ->capture_default_str();
  predict->add_option("--heads", options->heads, "Only the first N heads (0: all)")->check(CLI::NonNegativeNumber);
  predict->add_option("--predictor", options->predictor, "oracle: keep key j for a query block iff some query gives it "
                                                         "probability > tau; topcdf: pooled cumulative-probability cut")
      ->check(CLI::IsMember({"oracle", "topcdf"}))
      ->capture_default_str();
  predict->add_option("-M,--block-m", options->block_m, "Queries per block (M)")->check(CLI::Range(1, 4096))->capture_default_str();
  predict->add_option("--block-n", options->block_n, "Oracle: keys per kept group (1: Mx1, M: block-sparse MxM)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  predict->add_option("--tau", options->tau, "Oracle: probability threshold (default 0.5 / Skv); Top-CDF: cumulative "
                                             "probability kept (default 0.9)")
      ->check(CLI::Range(0.0, 1.0));
  predict->add_option("--pool", options->pool, "Top-CDF: tokens pooled per block")->check(CLI::Range(1, 4096))->capture_default_str();
  predict->add_option("--sim-threshold", options->sim_threshold, "Top-CDF: blocks less self-similar than this are kept")
      ->capture_default_str();
  predict->add_option("--threads", options->threads, "CPU threads (default: all cores)")->check(CLI::Range(0, 1024));
  predict->add_flag("--json", options->json, "Print one JSON object instead of a line");
  predict->callback([options] {
    const Qkv qkv = load_inputs(options->files, options->layout, options->heads);
    Prediction prediction;
    if (options->predictor == "oracle") {
      OracleOptions oracle;
      oracle.block_m = options->block_m, oracle.block_n = options->block_n, oracle.tau = options->tau;
      oracle.num_threads = options->threads;
      prediction = oracle_plan(qkv.q.view(), qkv.k.view(), oracle);
    } else {
      TopCdfOptions topcdf;
      topcdf.block_m = options->block_m, topcdf.pool = options->pool, topcdf.sim_threshold = options->sim_threshold;
      if (options->tau >= 0) topcdf.tau = options->tau;
      topcdf.num_threads = options->threads;
      prediction = topcdf_plan(qkv.q.view(), qkv.k.view(), topcdf);
    }
    save_plan(prediction.plan, options->out);
    const PredictorReport& r = prediction.report;
    const Plan& plan = prediction.plan;
    if (options->json) {
      const nlohmann::json j = {{"predictor", r.predictor}, {"granularity", r.granularity}, {"block_m", plan.block_m},
                                {"tau", r.tau}, {"density", r.density}, {"nnz", plan.nnz()}, {"rows", plan.rows()},
                                {"q_shape", qkv.q.shape}, {"k_shape", qkv.k.shape}, {"seconds", r.seconds},
                                {"out", options->out}};
      nlohmann::json out = j;
      if (plan.quality)
        out["quality"] = {{"dropped_mass_mean", plan.quality->dropped_mass_mean},
                          {"dropped_mass_max", plan.quality->dropped_mass_max},
                          {"estimated", plan.quality->estimated}, {"queries", plan.quality->queries}};
      std::cout << out.dump() << "\n";
    } else {
      std::cout << fmt::format("{} {} plan (M={}, tau={:.4g}): {:.1f} % of the slices kept, {} keys in {} rows, "
                               "{:.2f} s -> {}\n",
                               r.predictor, r.granularity, plan.block_m, r.tau, 100.0 * r.density, plan.nnz(),
                               plan.rows(), r.seconds, options->out);
      if (plan.quality)
        std::cout << fmt::format("dropped softmax mass per query: mean {:.3e}, max {:.3e} ({} over {} queries)\n",
                                 plan.quality->dropped_mass_mean, plan.quality->dropped_mass_max,
                                 plan.quality->estimated ? "estimated" : "exact", plan.quality->queries);
    }
  });
}

}  // namespace fgattn::cli
