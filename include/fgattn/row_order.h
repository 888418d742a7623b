#pragma once
// The order in which the CUDA kernel's persistent CTAs take plan rows (DevicePlan::order): CTA c runs rows
// order[c], order[c + grid], ... Longest rows first balances uneven key counts; which rows run at the same time
// decides how much of K and V the L2 cache must hold.
#include <cstdint>
#include <vector>

#include "fgattn/plan.h"

namespace fgattn {

enum class RowOrder {
  // (batch, head) by (batch, head), longest rows first inside each: the CTAs running at once read one or two heads'
  // K/V (16.8 MB per head at Wan 480p, D = 128), which fits the L2 cache.
  longest_first_per_head,
  // Longest rows first over the whole plan: the best static balance, but rows of every head run at once, so the
  // K/V working set is every head's (201 MB at Wan 480p) and the L2 cache thrashes.
  longest_first_global,
};

// Callers choose the order (an option, e.g. OracleOptions::row_order); longest_first_per_head is the fast default.
const char* row_order_name(RowOrder order);

// The rows sorted as one block (the rows of one head for longest_first_per_head, all rows otherwise): the sort's
// segment, shared with the device-side schedule of the same order (schedule_rows_cuda, fgattn/plan_cuda.h).
std::int64_t row_order_segment(const Plan& sizes, RowOrder order);

// The plan's rows in the order the kernel should take them (a permutation of 0 .. rows - 1), on the host.
std::vector<std::int32_t> schedule_rows(const Plan& plan, RowOrder order);

}  // namespace fgattn
