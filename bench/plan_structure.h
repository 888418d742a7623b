#pragma once
// What a plan's key lists look like to the kernel's producer (issue 17: a gathered tile costs more than a contiguous
// one, so how much of a plan could be loaded as contiguous runs, and how much two adjacent query blocks share).
#include <nlohmann/json.hpp>

#include "fgattn/plan.h"

namespace fgattn::bench {

// For tiles of `block_n` keys:
//  - tma_tiles_now: the fraction of tiles (cut every block_n keys of each sorted row) whose keys are one run, which
//    the producer loads by TMA today;
//  - keys_in_full_runs: the fraction of kept keys that whole block_n-key chunks of runs could hold (each run of
//    length L gives floor(L / block_n) such chunks), i.e. the most a run-first tile order could load by TMA;
//  - mean_run_length: kept keys per maximal run of consecutive keys;
//  - adjacent_jaccard: over pairs of adjacent query blocks of one (batch, head), sum |A n B| / sum |A u B|;
//  - union_per_row: sum |A u B| / sum (|A| + |B|) / 2, the keys a union tile of the pair loads per key of one row
//    (1.0: identical lists; 2.0: disjoint).
nlohmann::json plan_structure(const Plan& plan, int block_n);

}  // namespace fgattn::bench
