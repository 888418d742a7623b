// The kernel's row schedule (fgattn/row_order.h): a permutation, head by head, longest rows first and stable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fgattn/row_order.h"
#include "fgattn/plan.h"

using namespace fgattn;

namespace {

// B=2, H=3, Sq=10, M=4: 3 query blocks per head, 18 rows; row r keeps (r * 7) % 5 keys, so lengths repeat (ties).
Plan uneven_plan() {
  Plan p;
  p.batch = 2, p.heads = 3, p.seq_q = 10, p.seq_kv = 9, p.block_m = 4;
  p.offsets.assign(1, 0);
  for (std::int64_t r = 0; r < p.rows(); ++r) {
    const int keys = static_cast<int>((r * 7) % 5);
    for (int j = 0; j < keys; ++j) p.indices.push_back(j);
    p.offsets.push_back(static_cast<std::int64_t>(p.indices.size()));
  }
  validate(p);
  return p;
}

std::int64_t length(const Plan& p, std::int32_t row) { return static_cast<std::int64_t>(p.keys(row).size()); }

}  // namespace

TEST(RowOrder, PerHeadKeepsHeadsInTurnAndSortsEachLongestFirst) {
  const Plan p = uneven_plan();
  const auto order = schedule_rows(p, RowOrder::longest_first_per_head);
  ASSERT_EQ(static_cast<std::int64_t>(order.size()), p.rows());
  EXPECT_EQ(row_order_segment(p, RowOrder::longest_first_per_head), 3);
  for (std::int64_t i = 0; i < p.rows(); ++i) {
    EXPECT_EQ(order[i] / 3, i / 3) << "position " << i << " holds a row of another head";
    if (i % 3 != 0) {
      const std::int64_t before = length(p, order[i - 1]), here = length(p, order[i]);
      EXPECT_GE(before, here) << "position " << i;
      if (before == here) EXPECT_LT(order[i - 1], order[i]) << "ties keep row order (stable), position " << i;
    }
  }
  // Head 0: rows 0, 1, 2 keep 0, 2, 4 keys.
  EXPECT_EQ((std::vector<std::int32_t>{order[0], order[1], order[2]}), (std::vector<std::int32_t>{2, 1, 0}));
}

TEST(RowOrder, GlobalSortsEveryRowLongestFirst) {
  const Plan p = uneven_plan();
  const auto order = schedule_rows(p, RowOrder::longest_first_global);
  EXPECT_EQ(row_order_segment(p, RowOrder::longest_first_global), p.rows());
  std::vector<std::int32_t> expected(order.size());
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<std::int32_t>(i);
  std::stable_sort(expected.begin(), expected.end(), [&](std::int32_t a, std::int32_t b) { return length(p, a) > length(p, b); });
  EXPECT_EQ(order, expected);
}

TEST(RowOrder, EachOrderIsAPermutation) {
  const Plan p = uneven_plan();
  for (const RowOrder o : {RowOrder::longest_first_per_head, RowOrder::longest_first_global}) {
    auto order = schedule_rows(p, o);
    std::sort(order.begin(), order.end());
    for (std::size_t i = 0; i < order.size(); ++i) ASSERT_EQ(order[i], static_cast<std::int32_t>(i)) << row_order_name(o);
  }
}

TEST(RowOrder, AnEmptyPlanHasAnEmptySchedule) {
  Plan p;
  p.batch = 1, p.heads = 1, p.seq_q = 0, p.seq_kv = 4, p.block_m = 64;
  p.offsets.assign(1, 0);
  EXPECT_TRUE(schedule_rows(p, RowOrder::longest_first_per_head).empty());
  EXPECT_EQ(row_order_segment(p, RowOrder::longest_first_per_head), 1);
}
