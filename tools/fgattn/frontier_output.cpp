#include "frontier_output.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>

namespace fgattn::cli {
namespace {

nlohmann::json optional_json(const std::optional<double>& x) { return x ? nlohmann::json(*x) : nlohmann::json(nullptr); }

std::string cost_text(const std::optional<double>& ms, double kept) {
  return ms ? fmt::format("{:.3f} ms ({:.2f}% kept)", *ms, 100 * kept) : fmt::format("{:.2f}% kept", 100 * kept);
}

}  // namespace

std::vector<std::string> frontier_findings(const FrontierReport& report) {
  std::vector<std::string> findings;
  for (const auto& r : report.ratios) {
    const double ratio = r.time_ratio.value_or(r.kept_ratio);
    const char* what = r.time_ratio ? "time" : "kept fraction";
    const std::string pair = fmt::format("{}x{} vs {}x1 at rel. L2 {:g}", r.block_m, r.block_m, r.block_m, r.target);
    std::string caveat;
    for (const auto& t : report.targets)
      if (t.target == r.target && !t.note.empty() &&
          (t.series == fmt::format("{}x1", r.block_m) || t.series == fmt::format("{}x{}", r.block_m, r.block_m)))
        caveat += fmt::format(" [{}: {}]", t.series, t.note);
    if (ratio > 1.0)
      findings.push_back(fmt::format("{}: fine-grained wins, block-sparse needs {:.2f}x the {}{}", pair, ratio, what, caveat));
    else
      findings.push_back(fmt::format("{}: fine-grained does NOT win, block-sparse needs only {:.2f}x the {}{}", pair, ratio,
                                     what, caveat));
  }
  return findings;
}

nlohmann::json frontier_json(const FrontierReport& report, const FrontierSource& source) {
  nlohmann::json j;
  j[source.key] = source.value;
  j["backend"] = report.backend;
  j["device"] = report.device;
  j["date"] = fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
  j["shape"] = {{"B", report.shape[0]}, {"S", report.shape[1]}, {"H", report.shape[2]}, {"D", report.shape[3]}};
  j["dtype"] = source.dtype;
  j["text_tokens"] = report.text_tokens;
  j["predictor"] = "oracle: keep a group of block_n keys for a query block iff max over its queries and keys of P > tau";
  j["tau_rule"] = "tau = tau_factor / Skv (0.5 / Skv is the paper's default)";
  j["error_metric"] = "rel_l2 = ||O - O_dense||_2 / ||O_dense||_2; psnr_db = 10 log10(max|O_dense|^2 / MSE)";
  j["error_reference"] = report.error_reference;
  j["dense_vs_double_rel_l2"] = optional_json(report.dense_vs_double_rel_l2);
  j["timing"] = report.backend == "cuda"
                    ? nlohmann::json(fmt::format("median of {} CUDA-event timings of one launch after {} warm-up launches; "
                                                 "every plan (dense and M x M included) runs in the same kernel, which "
                                                 "loads a tile whose keys are one contiguous run by TMA (dense and M x M "
                                                 "tiles) and gathers the others by cp.async; the plan is built and run "
                                                 "on the device, the L2 is not flushed between launches",
                                                 source.reps, source.warmup))
                    : nlohmann::json(nullptr);
  j["points"] = nlohmann::json::array();
  for (const auto& p : report.points)
    j["points"].push_back({{"series", p.series}, {"block_m", p.block_m}, {"block_n", p.block_n}, {"tau", p.tau},
                           {"tau_factor", p.tau_factor}, {"kept_fraction", p.kept_fraction}, {"ms", optional_json(p.ms)},
                           {"rel_l2", p.rel_l2}, {"psnr_db", optional_json(p.psnr_db)}});
  nlohmann::json targets = nlohmann::json::array(), ratios = nlohmann::json::array();
  for (const auto& t : report.targets)
    targets.push_back({{"target_rel_l2", t.target}, {"series", t.series}, {"ms", optional_json(t.ms)},
                       {"kept_fraction", t.kept_fraction}, {"note", t.note}});
  for (const auto& r : report.ratios)
    ratios.push_back({{"target_rel_l2", r.target}, {"block_m", r.block_m}, {"time_ratio_MxM_over_Mx1", optional_json(r.time_ratio)},
                      {"kept_ratio_MxM_over_Mx1", r.kept_ratio}});
  j["summary"] = {{"interpolation", "cheapest point at or below the target, log-log towards the closest cheaper point above it"},
                  {"targets", targets}, {"ratios", ratios}, {"findings", frontier_findings(report)}};
  j["seconds"] = source.seconds;
  return j;
}

std::string frontier_table(const FrontierReport& report, const FrontierSource& source) {
  std::string s = fmt::format("fgattn frontier of {} {} ({}{}): B={} S={} H={} D={}\n", source.key, source.value, report.backend,
                              report.device.empty() ? "" : ", " + report.device, report.shape[0], report.shape[1],
                              report.shape[2], report.shape[3]);
  s += fmt::format("  {:<9} {:>8} {:>9} {:>10} {:>11} {:>8}\n", "series", "tau*Skv", "kept %", "ms", "rel L2", "PSNR dB");
  for (const auto& p : report.points)
    s += fmt::format("  {:<9} {:>8g} {:>8.2f}% {:>10} {:>11.3e} {:>8}\n", p.series == "dense" ? fmt::format("dense/{}", p.block_m) : p.series,
                     p.tau_factor, 100 * p.kept_fraction,
                     p.ms ? fmt::format("{:.3f}", *p.ms) : "-", p.rel_l2, p.psnr_db ? fmt::format("{:.1f}", *p.psnr_db) : "-");
  s += "\n  Cost to reach a target error:\n";
  for (const auto& t : report.targets)
    s += fmt::format("  rel L2 {:<7g} {:<9} {}{}\n", t.target, t.series, cost_text(t.ms, t.kept_fraction),
                     t.note.empty() ? "" : " (" + t.note + ")");
  s += "\n";
  for (const auto& f : frontier_findings(report)) s += "  " + f + "\n";
  return s;
}

}  // namespace fgattn::cli
