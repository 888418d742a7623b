#pragma once
// The frontier as JSON (frontier_<name>.json), as a short table on stdout, and the findings (where block-sparse
// plans are not slower than fine-grained ones at equal error), derived from the report's numbers.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fgattn/frontier.h"

namespace fgattn::cli {

struct FrontierSource {
  std::string key;    // "preset" or "input"
  std::string value;  // preset name or file path(s)
  std::string dtype;  // of the tensors the sweep ran on
  int warmup = 0, reps = 0;
  double seconds = 0;  // wall time of the sweep
};

std::vector<std::string> frontier_findings(const FrontierReport& report);
nlohmann::json frontier_json(const FrontierReport& report, const FrontierSource& source);
std::string frontier_table(const FrontierReport& report, const FrontierSource& source);

}  // namespace fgattn::cli
