// The GPU predictors against the CPU ones on the same (pre-rounded) inputs: plans must be equal, except keys
// whose exact slice score lies within rounding of tau.
#include <cuda_runtime.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "common/random_inputs.h"
#include "cuda/attention_test_util.h"
#include "fgattn/error.h"
#include "fgattn/predict.h"
#include "fgattn/predict_cuda.h"

using namespace fgattn;

namespace {

using gputest::DeviceBuffer;

// Group score = max slice score over the group's keys; compare plans key by key.
void expect_plans_match(const Plan& gpu, const Plan& cpu, const SliceScores& scores, double tau, int block_n) {
  ASSERT_EQ(gpu.rows(), cpu.rows());
  std::int64_t differing = 0;
  for (std::int64_t r = 0; r < gpu.rows(); ++r) {
    const std::set<std::int32_t> a(gpu.keys(r).begin(), gpu.keys(r).end()), b(cpu.keys(r).begin(), cpu.keys(r).end());
    if (a == b) continue;
    for (std::int64_t j = 0; j < gpu.seq_kv; ++j) {
      if (a.count(static_cast<std::int32_t>(j)) == b.count(static_cast<std::int32_t>(j))) continue;
      ++differing;
      const std::int64_t g0 = j / block_n * block_n;
      float group = 0;
      for (std::int64_t i = g0; i < std::min<std::int64_t>(gpu.seq_kv, g0 + block_n); ++i) group = std::max(group, scores.at(r, i));
      EXPECT_NEAR(group, tau, 2e-3 * tau) << "row " << r << " key " << j << " differs but its score is not at tau";
    }
  }
  EXPECT_LE(differing, gpu.nnz() / 100 + 2) << "too many keys differ";
}

}  // namespace

TEST(OracleCuda, MatchesTheCpuOracleOnRandomInputs) {
  std::mt19937_64 rng(std::random_device{}());
  for (DType dtype : {DType::bf16, DType::f16})
    for (int D : {64, 128})
      for (int M : {64, 128}) {
        const std::int64_t Sq = 200 + static_cast<std::int64_t>(rng() % 300), Skv = 1 + static_cast<std::int64_t>(rng() % 700);
        SCOPED_TRACE(::testing::Message() << "dtype " << dtype_name(dtype) << " D=" << D << " M=" << M << " Sq=" << Sq << " Skv=" << Skv);
        const auto q = testutil::random_tensor(rng, dtype, Layout::BSHD, 1, Sq, 2, D, 3.0f);
        const auto k = testutil::random_tensor(rng, dtype, Layout::BHSD, 1, Skv, 2, D, 3.0f);
        const DeviceBuffer dq(q), dk(k);
        const SliceScores scores = compute_slice_scores(q.view(), k.view(), M);
        for (int block_n : {1, 16, M}) {
          OracleOptions options;
          options.block_m = M;
          options.block_n = block_n;
          const Prediction gpu = oracle_plan_cuda(dq.view(q), dk.view(k), options);
          const double tau = 0.5 / static_cast<double>(Skv);
          EXPECT_DOUBLE_EQ(gpu.report.tau, tau);
          EXPECT_GT(gpu.report.seconds, 0.0);
          expect_plans_match(gpu.plan, plan_from_scores(scores, tau, block_n), scores, tau, block_n);
        }
      }
}

// Top-CDF compares float sums with tau: allow the rare pool whose cumulative mass sits at the cut.
TEST(TopCdfCuda, MatchesTheCpuTopCdf) {
  std::mt19937_64 rng(std::random_device{}());
  for (DType dtype : {DType::bf16, DType::f16})
    for (int M : {64, 128})
      for (double tau : {0.5, 0.9, 1.0}) {
        const std::int64_t Sq = 100 + static_cast<std::int64_t>(rng() % 400), Skv = 1 + static_cast<std::int64_t>(rng() % 900);
        SCOPED_TRACE(::testing::Message() << dtype_name(dtype) << " M=" << M << " tau=" << tau << " Sq=" << Sq << " Skv=" << Skv);
        const int D = M == 64 ? 64 : 128;
        const auto q = testutil::random_tensor(rng, dtype, Layout::BSHD, 1, Sq, 2, D, 3.0f);
        const auto k = testutil::random_tensor(rng, dtype, Layout::BHSD, 1, Skv, 2, D, 3.0f);
        const DeviceBuffer dq(q), dk(k);
        TopCdfOptions options;
        options.block_m = M;
        options.tau = tau;
        options.sim_threshold = 0.05;  // random tokens are barely self-similar: guard only the least similar pools
        const Prediction gpu = topcdf_plan_cuda(dq.view(q), dk.view(k), options);
        const Prediction cpu = topcdf_plan(q.view(), k.view(), options);
        ASSERT_EQ(gpu.plan.offsets.size(), cpu.plan.offsets.size());
        std::int64_t differing = 0;
        for (std::int64_t r = 0; r < gpu.plan.rows(); ++r) {
          const std::set<std::int32_t> a(gpu.plan.keys(r).begin(), gpu.plan.keys(r).end());
          const std::set<std::int32_t> b(cpu.plan.keys(r).begin(), cpu.plan.keys(r).end());
          for (auto key : a) differing += b.count(key) == 0;
          for (auto key : b) differing += a.count(key) == 0;
        }
        if (tau == 1.0) EXPECT_EQ(differing, 0);
        EXPECT_LE(differing, cpu.plan.nnz() / 50 + 2 * options.pool) << "GPU and CPU Top-CDF plans differ too much";
        EXPECT_GT(gpu.report.seconds, 0.0);
      }
}

TEST(OracleCuda, RefusesUnsupportedArguments) {
  std::mt19937_64 rng(1);
  const auto q = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 64, 1, 96);
  const DeviceBuffer dq(q);
  try {
    oracle_plan_cuda(dq.view(q), dq.view(q));
    ADD_FAILURE() << "head dim 96 accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("head dim 96 is not supported; built: 64, 128"));
  }
  const auto q64 = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 64, 1, 64);
  const DeviceBuffer d64(q64);
  OracleOptions bad;
  bad.block_n = 24;
  EXPECT_THROW(oracle_plan_cuda(d64.view(q64), d64.view(q64), bad), Error);
  EXPECT_THROW(oracle_plan_cuda(q64.view(), q64.view()), Error);  // host tensors
  TopCdfOptions odd_pool;
  odd_pool.pool = 24;
  EXPECT_THROW(topcdf_plan_cuda(d64.view(q64), d64.view(q64), odd_pool), Error);
}
