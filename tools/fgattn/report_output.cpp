#include "report_output.h"

#include <fmt/format.h>

namespace fgattn::cli {
namespace {

nlohmann::json row_json(const AnalysisRow& r) {
  return {{"predictor", r.predictor}, {"granularity", r.granularity}, {"tau", r.tau},
          {"density", r.density},     {"rel_error", r.rel_error},     {"predict_seconds", r.predict_seconds},
          {"dropped_mass_mean", r.quality.dropped_mass_mean}, {"dropped_mass_max", r.quality.dropped_mass_max}};
}

std::string granularity_label(const AnalysisRow& r, int M) {
  if (r.granularity == "Mx1") return fmt::format("{}x1", M);
  if (r.granularity == "Mx16") return fmt::format("{}x16", M);
  if (r.granularity == "MxM") return fmt::format("{}x{}", M, M);
  return r.granularity;
}

}  // namespace

nlohmann::json report_json(const AnalysisReport& report, const ReportSource& source) {
  nlohmann::json j;
  j[source.key] = source.value;
  j["M"] = report.block_m;
  j["q_shape"] = source.q_shape;
  j["k_shape"] = source.k_shape;
  j["fine"] = row_json(report.fine);
  j["block_at_equal_error"] = row_json(report.block_at_equal_error);
  j["block_at_equal_error"]["block"] = fmt::format("{}x{}", report.block_m, report.block_m);
  j["block_density_over_fine_density"] =
      report.fine.density > 0 ? report.block_at_equal_error.density / report.fine.density : 0.0;
  j["rows"] = nlohmann::json::array();
  for (const auto& r : report.rows) j["rows"].push_back(row_json(r));
  j["error_metric"] = "||O - O_dense||_2 / ||O_dense||_2 over all outputs, CPU reference in double";
  j["seconds"] = source.seconds;
  return j;
}

std::string report_table(const AnalysisReport& report, const ReportSource& source) {
  const int M = report.block_m;
  std::string s = fmt::format("fgattn analysis of {} {}: q {} k {}, M = {}\n\n", source.key, source.value,
                              fmt::join(source.q_shape, "x"), fmt::join(source.k_shape, "x"), M);
  s += fmt::format("  {:<9} {:<9} {:>11} {:>9} {:>11} {:>10} {:>10} {:>10}\n", "predictor", "slice", "tau", "kept %",
                   "rel error", "drop mean", "drop max", "predict s");
  for (const auto& r : report.rows)
    s += fmt::format("  {:<9} {:<9} {:>11.4g} {:>8.2f}% {:>11.3e} {:>10.2e} {:>10.2e} {:>10.3f}\n", r.predictor,
                     granularity_label(r, M), r.tau, 100.0 * r.density, r.rel_error, r.quality.dropped_mass_mean,
                     r.quality.dropped_mass_max, r.predict_seconds);
  s += "  (drop: softmax mass a plan drops per query, 1 - sum of the kept P; mean and max over every query)\n";
  const auto& fine = report.fine;
  const auto& block = report.block_at_equal_error;
  s += fmt::format(
      "\n  At equal error ({:.3e}): {}x1 slices keep {:.2f}% of the scores, {}x{} blocks need {:.2f}% ({:.2f}x as "
      "many).\n",
      fine.rel_error, M, 100.0 * fine.density, M, M, 100.0 * block.density,
      fine.density > 0 ? block.density / fine.density : 0.0);
  s += fmt::format("  ({:.1f} s on the CPU reference)\n", source.seconds);
  return s;
}

}  // namespace fgattn::cli
