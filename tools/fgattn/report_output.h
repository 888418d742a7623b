#pragma once
// Renders an AnalysisReport as the human table or as the one JSON object of --json.
#include <nlohmann/json.hpp>
#include <string>

#include "fgattn/analysis.h"

namespace fgattn::cli {

struct ReportSource {
  std::string key;    // "preset" or "input"
  std::string value;  // preset name or file path(s)
  std::array<std::int64_t, 4> q_shape{}, k_shape{};
  double seconds = 0;  // wall time of the whole analysis
};

nlohmann::json report_json(const AnalysisReport& report, const ReportSource& source);
std::string report_table(const AnalysisReport& report, const ReportSource& source);

}  // namespace fgattn::cli
