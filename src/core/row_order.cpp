#include "fgattn/row_order.h"

#include <algorithm>
#include <numeric>

namespace fgattn {

const char* row_order_name(RowOrder order) {
  return order == RowOrder::longest_first_global ? "longest first, global" : "longest first within each head";
}

std::int64_t row_order_segment(const Plan& sizes, RowOrder order) {
  // Rows of one (batch, head) are contiguous (Plan::row_index): query_blocks of them.
  return order == RowOrder::longest_first_per_head ? std::max<std::int64_t>(sizes.query_blocks(), 1)
                                                   : std::max<std::int64_t>(sizes.rows(), 1);
}

std::vector<std::int32_t> schedule_rows(const Plan& plan, RowOrder order) {
  std::vector<std::int32_t> rows(static_cast<std::size_t>(plan.rows()));
  std::iota(rows.begin(), rows.end(), 0);
  const auto& off = plan.offsets;
  const auto count = [&](std::int32_t r) { return off[static_cast<std::size_t>(r) + 1] - off[static_cast<std::size_t>(r)]; };
  const std::int64_t segment = row_order_segment(plan, order);
  for (std::int64_t first = 0; first < plan.rows(); first += segment) {
    const auto begin = rows.begin() + first, end = rows.begin() + std::min(first + segment, plan.rows());
    std::stable_sort(begin, end, [&](std::int32_t a, std::int32_t b) { return count(a) > count(b); });
  }
  return rows;
}

}  // namespace fgattn
