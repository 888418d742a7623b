#pragma once
// Issue 3's "plans from the video-like generator": the attention kernel timed on oracle M x 1 plans of the
// generator's q/k (include/fgattn/workload.h) at target kept fractions, beside the random plans of fgattn_bench.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_common.h"

namespace fgattn::bench {

// For `preset` (wan480p, wan720p, ...): one record per target density, keys as fgattn_bench's records plus
// "plan_source" and "tau_times_skv". tau is found by bisection (OraclePredictor, on the GPU) to within 2 % of
// the target kept fraction, or the closest found is used and recorded.
nlohmann::json generator_plan_records(const std::string& preset, const std::vector<double>& densities, int block_m,
                                      int reps, const KernelChoice& choice, const std::string& device_name,
                                      const std::string& date);

}  // namespace fgattn::bench
