// The untimed frontier on the CPU: exact slice scores per M, oracle plans over the tau sweep, errors from the
// double-accumulating reference against its own dense output.
#include <fmt/format.h>

#include <map>
#include <span>

#include "analysis/f32_copy.h"
#include "analysis/frontier_error.h"
#include "fgattn/attention.h"
#include "fgattn/error.h"
#include "fgattn/frontier.h"
#include "fgattn/predict.h"

namespace fgattn {
namespace {

std::span<const float> values(const HostTensor& t) {
  return {reinterpret_cast<const float*>(t.bytes.data()), static_cast<std::size_t>(t.numel())};
}

HostTensor run_plan(const HostTensor& q, const HostTensor& k, const HostTensor& v, const Plan& plan, int threads) {
  HostTensor out = HostTensor::zeros(DType::f32, Layout::BSHD, q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
  AttentionOptions options;
  options.num_threads = threads;
  attention(q.view(), k.view(), v.view(), plan, out.view(), nullptr, options);
  return out;
}

}  // namespace

FrontierReport frontier_cpu(const TensorView& q_in, const TensorView& k_in, const TensorView& v_in,
                            const FrontierOptions& options) {
  validate_frontier_options(options, q_in.seq());
  const HostTensor q = analysis::to_f32(q_in, "q"), k = analysis::to_f32(k_in, "k"), v = analysis::to_f32(v_in, "v");
  const std::int64_t B = q.shape[0], Sq = q.shape[1], H = q.shape[2], Skv = k.shape[1];
  auto progress = [&](const std::string& stage, double f) {
    if (options.progress) options.progress(stage, f);
  };
  FrontierReport report;
  report.backend = "cpu-reference";
  report.error_reference = "CPU reference attention (double accumulation) with the dense plan, all heads";
  report.shape = q.shape;
  report.text_tokens = options.text_tokens;

  progress("dense reference", 0.0);
  const HostTensor dense = run_plan(q, k, v, dense_plan(B, H, Sq, Skv, options.series.front().block_m), options.num_threads);
  std::map<int, SliceScores> scores;  // one exact score pass per M
  const double total = static_cast<double>(options.series.size() * options.tau_factors.size());
  double done = 0;
  for (const auto& s : options.series) {
    if (!scores.contains(s.block_m)) {
      progress(fmt::format("slice scores M={}", s.block_m), done / total);
      scores.emplace(s.block_m, compute_slice_scores(q.view(), k.view(), s.block_m, options.num_threads));
      FrontierPoint d{"dense", s.block_m, static_cast<int>(Skv), 0.0, 0.0, 1.0, std::nullopt, 0.0, std::nullopt};
      report.points.push_back(d);
    }
    for (double factor : options.tau_factors) {
      progress(fmt::format("sweep {}", s.name()), done++ / total);
      const double tau = factor / static_cast<double>(Skv);
      const Plan plan = with_text_tokens(plan_from_scores(scores.at(s.block_m), tau, s.block_n), options.text_tokens);
      const analysis::OutputError e = analysis::output_error(values(run_plan(q, k, v, plan, options.num_threads)), values(dense));
      report.points.push_back({s.name(), s.block_m, s.block_n, tau, factor, plan.density(), std::nullopt, e.rel_l2, e.psnr_db});
      if (e.rel_l2 > options.max_error) break;  // sparser plans only add useless points
    }
  }
  summarize_frontier(report, options.target_errors);
  progress("done", 1.0);
  return report;
}

}  // namespace fgattn
