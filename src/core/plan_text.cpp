// The text-token rule of docs/design.md as a plan transform: text keys in every row, text query blocks dense.
#include <fmt/format.h>

#include <algorithm>

#include "fgattn/error.h"
#include "fgattn/plan.h"

namespace fgattn {

void check_text_tokens(std::int64_t text_tokens, std::int64_t seq_q, std::int64_t seq_kv) {
  if (text_tokens < 0 || text_tokens > seq_kv || text_tokens > seq_q)
    throw Error("text_tokens", fmt::format("must be in [0, min(Sq, Skv)] = [0, {}], got {}", std::min(seq_q, seq_kv),
                                           text_tokens));
}

Plan with_text_tokens(Plan plan, std::int64_t text_tokens) {
  check_text_tokens(text_tokens, plan.seq_q, plan.seq_kv);
  if (text_tokens == 0) return plan;  // moved, not copied: plans at 720p hold ~10^8 keys
  Plan p = plan_with_sizes(plan.batch, plan.heads, plan.seq_q, plan.seq_kv, plan.block_m);
  p.indices.reserve(plan.indices.size() + static_cast<std::size_t>(plan.rows() * text_tokens));
  const std::int64_t nqb = plan.query_blocks();
  const auto text_end = static_cast<std::int32_t>(text_tokens);
  for (std::int64_t r = 0; r < plan.rows(); ++r) {
    const bool text_queries = (r % nqb) * plan.block_m < text_tokens;
    if (text_queries) {
      for (std::int32_t j = 0; j < plan.seq_kv; ++j) p.indices.push_back(j);
    } else {
      // Keys are sorted: the text keys first, then the row's own keys past the text.
      for (std::int32_t j = 0; j < text_end; ++j) p.indices.push_back(j);
      for (const std::int32_t j : plan.keys(r))
        if (j >= text_end) p.indices.push_back(j);
    }
    p.offsets.push_back(static_cast<std::int64_t>(p.indices.size()));
  }
  validate(p);
  return p;
}

}  // namespace fgattn
