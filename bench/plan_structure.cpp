#include "plan_structure.h"

#include <algorithm>
#include <cstdint>

namespace fgattn::bench {

nlohmann::json plan_structure(const Plan& plan, int block_n) {
  std::int64_t tiles = 0, run_tiles = 0, runs = 0, keys_in_chunks = 0, inter = 0, uni = 0, pair_keys = 0;
  for (std::int64_t r = 0; r < plan.rows(); ++r) {
    const auto keys = plan.keys(r);
    const auto n = static_cast<std::int64_t>(keys.size());
    for (std::int64_t t = 0; t < n; t += block_n) {
      const std::int64_t last = std::min<std::int64_t>(n, t + block_n) - 1;
      ++tiles;
      run_tiles += keys[static_cast<std::size_t>(last)] - keys[static_cast<std::size_t>(t)] == last - t;
    }
    for (std::int64_t i = 0; i < n;) {
      std::int64_t j = i + 1;
      while (j < n && keys[static_cast<std::size_t>(j)] == keys[static_cast<std::size_t>(j - 1)] + 1) ++j;
      ++runs;
      keys_in_chunks += (j - i) / block_n * block_n;
      i = j;
    }
    // Adjacent query blocks of the same (batch, head): rows r and r + 1 inside one head's block of rows.
    if ((r + 1) % plan.query_blocks() == 0) continue;
    const auto next = plan.keys(r + 1);
    std::size_t a = 0, b = 0;
    std::int64_t both = 0;
    while (a < keys.size() && b < next.size()) {
      if (keys[a] == next[b]) ++both, ++a, ++b;
      else if (keys[a] < next[b]) ++a;
      else ++b;
    }
    inter += both;
    uni += n + static_cast<std::int64_t>(next.size()) - both;
    pair_keys += n + static_cast<std::int64_t>(next.size());
  }
  const auto ratio = [](std::int64_t x, std::int64_t y) { return y > 0 ? static_cast<double>(x) / static_cast<double>(y) : 0.0; };
  return {{"block_n", block_n},
          {"tma_tiles_now", ratio(run_tiles, tiles)},
          {"keys_in_full_runs", ratio(keys_in_chunks, plan.nnz())},
          {"mean_run_length", ratio(plan.nnz(), runs)},
          {"adjacent_jaccard", ratio(inter, uni)},
          {"union_per_row", ratio(2 * uni, pair_keys)}};
}

}  // namespace fgattn::bench
