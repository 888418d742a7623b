#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <cstring>
#include <functional>
#include <random>

#include "common/error_of.h"
#include "common/random_inputs.h"
#include "fgattn/error.h"
#include "fgattn/plan.h"

using namespace fgattn;
using ::testing::HasSubstr;
using testutil::error_of;

namespace {

Plan small_plan() {
  // B=1, H=2, Sq=5, Skv=6, M=2 -> 3 query blocks, 6 rows.
  std::vector<std::uint8_t> mask(1 * 2 * 5 * 6, 0);
  for (std::size_t i = 0; i < mask.size(); i += 3) mask[i] = 1;
  return plan_from_token_mask(mask, 1, 2, 5, 6, 2);
}

}  // namespace

TEST(Plan, DensePlanKeepsEveryKeyInEveryRow) {
  const Plan p = dense_plan(2, 3, 130, 77, 64);
  EXPECT_EQ(p.query_blocks(), 3);
  EXPECT_EQ(p.rows(), 2 * 3 * 3);
  EXPECT_EQ(p.nnz(), p.rows() * 77);
  EXPECT_DOUBLE_EQ(p.density(), 1.0);
  EXPECT_DOUBLE_EQ(p.attended_pairs(), 2.0 * 3 * 130 * 77);  // the short last block counts 2 queries
  EXPECT_NO_THROW(validate(p));
}

TEST(Plan, TokenMaskKeepsTheUnionOfTheBlocksQueries) {
  // Sq=3, Skv=4, M=2: block 0 = queries {0,1}, block 1 = {2}.
  const std::vector<std::uint8_t> mask = {1, 0, 0, 0,  //
                                          0, 0, 1, 0,  //
                                          0, 1, 0, 0};
  const Plan p = plan_from_token_mask(mask, 1, 1, 3, 4, 2);
  ASSERT_EQ(p.rows(), 2);
  EXPECT_EQ(std::vector<std::int32_t>(p.keys(0).begin(), p.keys(0).end()), (std::vector<std::int32_t>{0, 2}));
  EXPECT_EQ(std::vector<std::int32_t>(p.keys(1).begin(), p.keys(1).end()), (std::vector<std::int32_t>{1}));
}

TEST(Plan, BlockMaskExpandsToWholeKeyBlocksWithAShortLastBlock) {
  // Skv=10, block_n=4 -> key blocks [0,4) [4,8) [8,10).
  const std::vector<std::uint8_t> block_mask = {0, 1, 1};
  const Plan p = plan_from_block_mask(block_mask, 1, 1, 3, 10, 4, 4);
  EXPECT_EQ(std::vector<std::int32_t>(p.keys(0).begin(), p.keys(0).end()),
            (std::vector<std::int32_t>{4, 5, 6, 7, 8, 9}));
}

TEST(Plan, BitmaskRoundTripsARandomPlan) {
  std::mt19937_64 rng(7);
  const Plan p = testutil::random_plan(rng, 2, 2, 200, 130, 64, 0.3, {1});
  EXPECT_TRUE(p.keys(1).empty());
  EXPECT_GT(p.nnz(), 0);
  EXPECT_NO_THROW(validate(p));
}

TEST(Plan, BitmaskRejectsBitsPastTheLastKey) {
  std::vector<std::uint64_t> bits(1, std::uint64_t{1} << 40);
  EXPECT_THAT(error_of([&] { plan_from_bitmask(bits, 1, 1, 1, 10, 64); }), HasSubstr("bits set past seq_kv"));
}

TEST(PlanValidation, RejectsEachRuleNamingTheRow) {
  {
    Plan p = small_plan();
    p.offsets.pop_back();
    EXPECT_THAT(error_of([&] { validate(p); }), HasSubstr("expected B*H*nQB+1"));
  }
  {
    Plan p = small_plan();
    p.offsets[0] = 1;
    EXPECT_THAT(error_of([&] { validate(p); }), HasSubstr("offsets[0] must be 0"));
  }
  {
    Plan p = small_plan();
    p.offsets.back() += 1;
    EXPECT_THAT(error_of([&] { validate(p); }), HasSubstr("must equal the number of indices"));
  }
  {
    Plan p = small_plan();
    p.offsets[2] = p.offsets[1] - 1;
    EXPECT_THAT(error_of([&] { validate(p); }), HasSubstr("offsets decrease"));
  }
  {
    Plan p = small_plan();
    const auto row = 4;
    p.indices[static_cast<std::size_t>(p.offsets[row])] = 6;  // Skv = 6
    const std::string msg = error_of([&] { validate(p); });
    EXPECT_THAT(msg, HasSubstr("plan row 4 (b=0, h=1, query block 1)"));
    EXPECT_THAT(msg, HasSubstr("out of range [0, 6)"));
  }
  {
    Plan p = small_plan();
    p.indices[static_cast<std::size_t>(p.offsets[1])] = -1;
    EXPECT_THAT(error_of([&] { validate(p); }), HasSubstr("out of range"));
  }
  {
    Plan p = dense_plan(1, 1, 4, 5, 2);
    std::swap(p.indices[1], p.indices[2]);
    EXPECT_THAT(error_of([&] { validate(p); }), HasSubstr("sorted ascending and unique"));
  }
  {
    Plan p = dense_plan(1, 1, 4, 5, 2);
    p.indices[1] = p.indices[0];
    EXPECT_THAT(error_of([&] { validate(p); }), HasSubstr("sorted ascending and unique"));
  }
  {
    Plan p = small_plan();
    p.block_m = 0;
    EXPECT_THAT(error_of([&] { validate(p); }), HasSubstr("plan.block_m"));
  }
  {
    Plan p = small_plan();
    p.seq_kv = 0;
    EXPECT_THAT(error_of([&] { validate(p); }), HasSubstr("plan.seq_kv"));
  }
}

TEST(PlanValidation, ValidateCsrChecksArraysHeldElsewhereWithTheSameMessages) {
  const Plan p = small_plan();
  Plan sizes = plan_with_sizes(p.batch, p.heads, p.seq_q, p.seq_kv, p.block_m);  // no CSR of its own
  EXPECT_NO_THROW(validate_csr(sizes, p.offsets, p.indices));
  std::vector<std::int32_t> indices = p.indices;
  indices[static_cast<std::size_t>(p.offsets[4])] = 6;
  EXPECT_THAT(error_of([&] { validate_csr(sizes, p.offsets, indices); }),
              HasSubstr("plan.indices: plan row 4 (b=0, h=1, query block 1): key 6 is out of range [0, 6)"));
  std::vector<std::int64_t> offsets = p.offsets;
  offsets.pop_back();
  EXPECT_THAT(error_of([&] { validate_csr(sizes, offsets, p.indices); }), HasSubstr("expected B*H*nQB+1 = 7"));
  sizes.seq_kv = 0;
  EXPECT_THAT(error_of([&] { validate_csr(sizes, p.offsets, p.indices); }), HasSubstr("plan.seq_kv"));
}

TEST(PlanValidation, TheStepsOfValidateCsrNameTheirRule) {
  const Plan sizes = plan_with_sizes(1, 2, 5, 6, 2);
  EXPECT_NO_THROW(validate_csr_shape(sizes, 7));
  EXPECT_THAT(error_of([&] { validate_csr_shape(sizes, 6); }), HasSubstr("has 6 entries"));
  EXPECT_NO_THROW(validate_csr_ends(0, 9, 9));
  EXPECT_THAT(error_of([&] { validate_csr_ends(2, 9, 9); }), HasSubstr("offsets[0] must be 0, got 2"));
  EXPECT_THAT(error_of([&] { validate_csr_ends(0, 8, 9); }), HasSubstr("last offset 8 must equal"));
  const std::vector<std::int32_t> keys = {1, 3, 3};
  EXPECT_NO_THROW(validate_csr_row(sizes, 2, 4, 6, 9, std::span(keys).first(2)));
  EXPECT_THAT(error_of([&] { validate_csr_row(sizes, 2, 4, 7, 9, keys); }),
              HasSubstr("plan row 2 (b=0, h=0, query block 2): keys must be sorted ascending and unique, 3 follows 3"));
  EXPECT_THAT(error_of([&] { validate_csr_row(sizes, 3, 5, 4, 9, {}); }), HasSubstr("offsets decrease (5 -> 4)"));
  EXPECT_THAT(error_of([&] { validate_csr_row(sizes, 3, 5, 10, 9, {}); }), HasSubstr("offset 10 is past the 9"));
  EXPECT_THAT(error_of([&] { validate_csr_row(sizes, 3, -1, 0, 9, {}); }), HasSubstr("offset -1 is negative"));
}

TEST(PlanValidation, RejectsSizesThatOverflow) {
  EXPECT_THAT(error_of([] { dense_plan(1, 1, 4, std::int64_t{1} << 40, 64); }), HasSubstr("int32"));
  EXPECT_THAT(error_of([] { dense_plan(1 << 20, 1 << 20, 1 << 30, 1 << 30, 1); }), HasSubstr("overflows"));
}

TEST(PlanValidation, BuildersRejectWrongMaskSizes) {
  std::vector<std::uint8_t> mask(5, 1);
  EXPECT_THAT(error_of([&] { plan_from_token_mask(mask, 1, 1, 2, 3, 2); }), HasSubstr("token_mask"));
  EXPECT_THAT(error_of([&] { plan_from_block_mask(mask, 1, 1, 2, 3, 2, 2); }), HasSubstr("block_mask"));
  EXPECT_THAT(error_of([&] { plan_from_block_mask(mask, 1, 1, 2, 3, 2, 0); }), HasSubstr("block_n"));
}

TEST(PlanFile, SaveLoadRoundTrip) {
  std::mt19937_64 rng(11);
  const Plan p = testutil::random_plan(rng, 1, 3, 150, 99, 128, 0.2);
  const auto path = (std::filesystem::temp_directory_path() / "fgattn_plan_roundtrip.fgplan").string();
  save_plan(p, path);
  const Plan back = load_plan(path);
  EXPECT_EQ(back.offsets, p.offsets);
  EXPECT_EQ(back.indices, p.indices);
  EXPECT_EQ(back.block_m, p.block_m);
  std::filesystem::remove(path);
}

TEST(PlanFile, CorruptFilesAreRejected) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto path = (dir / "fgattn_plan_corrupt.fgplan").string();
  save_plan(small_plan(), path);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  };
  write(bytes.substr(0, bytes.size() - 3));
  EXPECT_THAT(error_of([&] { load_plan(path); }), HasSubstr("header declares"));
  write("NOTAPLAN" + bytes.substr(8));
  EXPECT_THAT(error_of([&] { load_plan(path); }), HasSubstr("bad magic"));
  write(bytes.substr(0, 20));
  EXPECT_THAT(error_of([&] { load_plan(path); }), HasSubstr("truncated"));
  std::string huge = bytes;
  const std::int64_t absurd = std::int64_t{1} << 50;  // declared seq_q: far more rows than the file holds
  std::memcpy(huge.data() + 8 + 2 * 8, &absurd, 8);
  write(huge);
  EXPECT_THAT(error_of([&] { load_plan(path); }), HasSubstr("header declares"));
  std::string unsorted = bytes;
  const std::size_t indices_at = bytes.size() - static_cast<std::size_t>(small_plan().nnz()) * 4;
  std::int32_t bad = 99;
  std::memcpy(unsorted.data() + indices_at, &bad, 4);
  write(unsorted);
  EXPECT_THAT(error_of([&] { load_plan(path); }), HasSubstr("invalid plan"));
  EXPECT_THAT(error_of([&] { load_plan((dir / "does_not_exist.fgplan").string()); }), HasSubstr("cannot read"));
  std::filesystem::remove(path);
}
