// The GPU predictors against the CPU ones on the same (pre-rounded) inputs: plans must be equal, except keys
// whose exact slice score lies within rounding of tau.
#include <cuda_runtime.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "common/random_inputs.h"
#include "fgattn/row_order.h"
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

// A device plan's row order: the schedule DevicePlan::upload makes (fgattn/row_order.h: by default longest first
// within each head, equal lengths in row order).
void expect_longest_first(const DevicePlan& device, const Plan& plan,
                          RowOrder row_order = RowOrder::longest_first_per_head) {
  std::vector<std::int32_t> order(static_cast<std::size_t>(device.rows));
  ASSERT_EQ(cudaMemcpy(order.data(), device.order, order.size() * sizeof(std::int32_t), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(order, schedule_rows(plan, row_order));
}

// Keys in one plan and not the other, over all rows.
std::int64_t differing_keys(const Plan& a, const Plan& b) {
  std::int64_t differing = 0;
  for (std::int64_t r = 0; r < a.rows(); ++r) {
    const std::set<std::int32_t> x(a.keys(r).begin(), a.keys(r).end()), y(b.keys(r).begin(), b.keys(r).end());
    for (auto key : x) differing += y.count(key) == 0;
    for (auto key : y) differing += x.count(key) == 0;
  }
  return differing;
}

// Top-CDF compares float sums with tau: allow the rare pool whose cumulative mass sits at the cut.
void expect_topcdf_close(const Plan& gpu, const Plan& cpu, const TopCdfOptions& options) {
  ASSERT_EQ(gpu.offsets.size(), cpu.offsets.size());
  const std::int64_t differing = differing_keys(gpu, cpu);
  if (options.tau == 1.0) EXPECT_EQ(differing, 0);
  EXPECT_LE(differing, cpu.nnz() / 50 + 2 * options.pool) << "GPU and CPU Top-CDF plans differ too much";
}

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
        expect_topcdf_close(gpu.plan, cpu.plan, options);
        EXPECT_GT(gpu.report.seconds, 0.0);
      }
}

// The outlier guard (issue 20): key pools holding an attention sink (a key with a large component every query shares)
// are kept by the GPU exactly as by the CPU, in every row, though the pooled logits favour other pools.
TEST(TopCdfCuda, KeepsSinkPoolsAsTheCpu) {
  std::mt19937_64 rng(std::random_device{}());
  for (DType dtype : {DType::bf16, DType::f16})
    for (int M : {64, 128}) {
      const int D = M == 64 ? 64 : 128;
      const std::int64_t Sq = 150 + static_cast<std::int64_t>(rng() % 300), Skv = 300 + static_cast<std::int64_t>(rng() % 700);
      SCOPED_TRACE(::testing::Message() << dtype_name(dtype) << " M=" << M << " Sq=" << Sq << " Skv=" << Skv);
      auto q = testutil::random_tensor(rng, DType::f32, Layout::BSHD, 1, Sq, 2, D, 2.0f);
      auto k = testutil::random_tensor(rng, DType::f32, Layout::BSHD, 1, Skv, 2, D, 2.0f);
      std::vector<std::int64_t> sinks;
      for (int i = 0; i < 3; ++i) sinks.push_back(16 + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(Skv - 16)));
      for (std::int64_t h = 0; h < 2; ++h) {
        for (std::int64_t s = 0; s < Sq; ++s) q.set(0, s, h, 0, 1.0f), q.set(0, s, h, 1, 1.0f);
        for (std::int64_t j = 0; j < 16; ++j) k.set(0, j, h, 1, 16.0f);  // the pooled logits favour key pool 0
        for (std::int64_t j : sinks) k.set(0, j, h, 0, 60.0f);             // the sinks hold the real mass
      }
      const HostTensor qr = q.converted(dtype), kr = k.converted(dtype);
      const DeviceBuffer dq(qr), dk(kr);
      TopCdfOptions options;
      options.block_m = M, options.tau = 0.5, options.sim_threshold = -1.0, options.quality_samples = 0;
      const Plan gpu = topcdf_plan_cuda(dq.view(qr), dk.view(kr), options).plan;
      const Plan cpu = topcdf_plan(qr.view(), kr.view(), options).plan;
      expect_topcdf_close(gpu, cpu, options);
      for (std::int64_t r = 0; r < gpu.rows(); ++r)
        for (std::int64_t j : sinks) {
          const auto keys = gpu.keys(r);
          EXPECT_TRUE(std::binary_search(keys.begin(), keys.end(), static_cast<std::int32_t>(j))) << "row " << r << " sink " << j;
        }
    }
}

// Many key pools: the cut's bisection, its candidate ranking and (past 2,048 pools) its shared-memory rows.
TEST(TopCdfCuda, MatchesTheCpuTopCdfWithManyKeyPools) {
  std::mt19937_64 rng(std::random_device{}());
  for (std::int64_t Skv : {std::int64_t{5000} + static_cast<std::int64_t>(rng() % 3000), std::int64_t{16400} + static_cast<std::int64_t>(rng() % 2000)})
    for (double tau : {0.5, 0.95}) {
      SCOPED_TRACE(::testing::Message() << "Skv=" << Skv << " tau=" << tau);
      const auto q = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 200, 2, 64, 3.0f);
      const auto k = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, Skv, 2, 64, 3.0f);
      const DeviceBuffer dq(q), dk(k);
      TopCdfOptions options;
      options.block_m = 64;
      options.pool = 8;  // 625-1,000 and 2,050-2,300 key pools
      options.tau = tau;
      options.sim_threshold = 0.05;
      const Prediction gpu = topcdf_plan_cuda(dq.view(q), dk.view(k), options);
      const Prediction cpu = topcdf_plan(q.view(), k.view(), options);
      expect_topcdf_close(gpu.plan, cpu.plan, options);
      EXPECT_LT(cpu.plan.density(), 1.0) << "the cut was not exercised";
    }
}

// Pools longer than the 16 tokens pool_means stages in shared memory (the rest is read token by token), with odd
// lengths so the last pool is short, in both layouts and dtypes; 33-150 key pools, so the cut brackets before it
// ranks, and tau = 0.5 so random tokens' near-uniform pool probabilities still leave pools out.
TEST(TopCdfCuda, MatchesTheCpuTopCdfWithLongPools) {
  std::mt19937_64 rng(std::random_device{}());
  for (int pool : {32, 64})
    for (DType dtype : {DType::bf16, DType::f16}) {
      const std::int64_t Sq = 300 + static_cast<std::int64_t>(rng() % 300),
                         Skv = 64 * 33 + static_cast<std::int64_t>(rng() % 2700);
      SCOPED_TRACE(::testing::Message() << "pool=" << pool << " " << dtype_name(dtype) << " Sq=" << Sq << " Skv=" << Skv);
      const auto q = testutil::random_tensor(rng, dtype, Layout::BHSD, 1, Sq, 2, 128, 3.0f);
      const auto k = testutil::random_tensor(rng, dtype, Layout::BSHD, 1, Skv, 2, 128, 3.0f);
      const DeviceBuffer dq(q), dk(k);
      TopCdfOptions options;
      options.block_m = 128;
      options.pool = pool;
      options.tau = 0.5;
      options.sim_threshold = 0.05;
      const Prediction gpu = topcdf_plan_cuda(dq.view(q), dk.view(k), options);
      const Prediction cpu = topcdf_plan(q.view(), k.view(), options);
      expect_topcdf_close(gpu.plan, cpu.plan, options);
      EXPECT_LT(cpu.plan.density(), 1.0) << "the cut was not exercised";
    }
}

// Identical keys make every key pool equally probable: more than 32 ties at the cut, which the CPU breaks by
// index (the first ceil(tau x pools) pools). The GPU must give exactly the same plan.
TEST(TopCdfCuda, BreaksTiesByIndexAsTheCpu) {
  std::mt19937_64 rng(std::random_device{}());
  for (double tau : {0.3, 0.5, 0.9}) {
    SCOPED_TRACE(::testing::Message() << "tau=" << tau);
    const auto q = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 256, 1, 128, 3.0f);
    auto k = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 2000, 1, 128, 3.0f);
    for (std::int64_t s = 1; s < 2000; ++s)
      for (std::int64_t d = 0; d < 128; ++d) k.set(0, s, 0, d, k.at(0, 0, 0, d));
    const DeviceBuffer dq(q), dk(k);
    TopCdfOptions options;
    options.tau = tau;
    options.sim_threshold = 0.05;
    const Plan gpu = topcdf_plan_cuda(dq.view(q), dk.view(k), options).plan;
    const Plan cpu = topcdf_plan(q.view(), k.view(), options).plan;
    EXPECT_EQ(gpu.offsets, cpu.offsets);
    EXPECT_EQ(gpu.indices, cpu.indices);
    EXPECT_LT(cpu.density(), 1.0);
  }
}

// The device-resident plan: the same plan as the host API, rows ordered longest first (stable, as
// DevicePlan::upload), nnz and attended_pairs after finish(); a reused predictor gives the same answers after a
// larger and then a smaller shape (no stale workspace data).
TEST(TopCdfCuda, DevicePlanIsCompleteAndReusable) {
  std::mt19937_64 rng(std::random_device{}());
  TopCdfPredictor predictor;
  for (std::int64_t Skv : {std::int64_t{700}, std::int64_t{3000}, std::int64_t{333}}) {
    SCOPED_TRACE(::testing::Message() << "Skv=" << Skv);
    const auto q = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 300, 3, 128, 3.0f);
    const auto k = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, Skv, 3, 128, 3.0f);
    const DeviceBuffer dq(q), dk(k);
    TopCdfOptions options;
    options.tau = 0.8;
    options.sim_threshold = 0.05;
    // The device sort in both row orders (the default, and the global one for comparisons).
    options.row_order = Skv == 333 ? RowOrder::longest_first_global : RowOrder::longest_first_per_head;
    cudaStream_t stream{};
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    const DevicePlan& device = predictor.predict(dq.view(q), dk.view(k), options, stream);
    EXPECT_EQ(device.nnz, -1) << "nnz is not known before finish()";
    const Plan plan = predictor.download(stream);  // validates
    EXPECT_EQ(device.nnz, plan.nnz());
    EXPECT_DOUBLE_EQ(device.attended_pairs, plan.attended_pairs());
    EXPECT_EQ(device.rows, plan.rows());
    expect_topcdf_close(plan, topcdf_plan(q.view(), k.view(), options).plan, options);

    expect_longest_first(device, plan, options.row_order);
    ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  }
  EXPECT_GT(predictor.workspace_bytes(), 0u);
}

TEST(TopCdfCuda, RefusesUnsupportedArguments) {
  std::mt19937_64 rng(1);
  const auto q = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 64, 1, 64);
  const DeviceBuffer dq(q);
  TopCdfPredictor predictor;
  TopCdfOptions bad_tau;
  bad_tau.tau = 1.5;
  try {
    predictor.predict(dq.view(q), dq.view(q), bad_tau);
    ADD_FAILURE() << "tau 1.5 accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("tau"));
  }
  TopCdfOptions small_pool;
  small_pool.pool = 4;  // block_m 128 / 4 = 32 pools per block
  EXPECT_THROW(predictor.predict(dq.view(q), dq.view(q), small_pool), Error);
  EXPECT_THROW(predictor.finish(), Error);  // nothing predicted yet
}

// The oracle's device-resident plan: equal to the CPU oracle (within rounding of tau), longest-first order, and a
// reused predictor (larger, then smaller shape) gives the same answers.
TEST(OracleCuda, DevicePlanIsCompleteAndReusable) {
  std::mt19937_64 rng(std::random_device{}());
  OraclePredictor predictor;
  for (std::int64_t Skv : {std::int64_t{500}, std::int64_t{1500}, std::int64_t{77}})
    for (int block_n : {1, 16}) {
      SCOPED_TRACE(::testing::Message() << "Skv=" << Skv << " block_n=" << block_n);
      const auto q = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 300, 2, 64, 3.0f);
      const auto k = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, Skv, 2, 64, 3.0f);
      const DeviceBuffer dq(q), dk(k);
      OracleOptions options;
      options.block_m = 64;
      options.block_n = block_n;
      options.row_order = block_n == 1 ? RowOrder::longest_first_global : RowOrder::longest_first_per_head;
      const DevicePlan& device = predictor.predict(dq.view(q), dk.view(k), options);
      EXPECT_EQ(device.nnz, -1) << "nnz is not known before finish()";
      const Plan plan = predictor.download();
      EXPECT_EQ(device.nnz, plan.nnz());
      EXPECT_DOUBLE_EQ(device.attended_pairs, plan.attended_pairs());
      const double tau = 0.5 / static_cast<double>(Skv);
      EXPECT_DOUBLE_EQ(predictor.tau(), tau);
      const SliceScores scores = compute_slice_scores(q.view(), k.view(), 64);
      expect_plans_match(plan, plan_from_scores(scores, tau, block_n), scores, tau, block_n);
      expect_longest_first(device, plan, options.row_order);
    }
}

// The refresh-step path: the plan from the LSE that dense attention() returns equals the CPU oracle (within
// rounding of tau) and predict()'s own plan, on odd lengths (Sq, Skv not multiples of 64 or 128) and one key.
TEST(OracleCuda, PlanFromTheAttentionLseMatches) {
  std::mt19937_64 rng(std::random_device{}());
  OraclePredictor predictor, own_lse;
  for (int M : {64, 128})
    for (std::int64_t Skv : {std::int64_t{1}, 1 + static_cast<std::int64_t>(rng() % 900)}) {
      const std::int64_t Sq = 1 + static_cast<std::int64_t>(rng() % 400);
      const int D = M == 64 ? 64 : 128;
      SCOPED_TRACE(::testing::Message() << "M=" << M << " Sq=" << Sq << " Skv=" << Skv);
      const auto q = testutil::random_tensor(rng, DType::f16, Layout::BSHD, 2, Sq, 2, D, 3.0f);
      const auto k = testutil::random_tensor(rng, DType::f16, Layout::BHSD, 2, Skv, 2, D, 3.0f);
      const auto v = testutil::random_tensor(rng, DType::f16, Layout::BSHD, 2, Skv, 2, D, 1.0f);
      const DeviceBuffer dq(q), dk(k), dv(v), dout(q.bytes.size()), dlse(static_cast<std::size_t>(2 * 2 * Sq) * 4);
      const DevicePlan dense = DevicePlan::upload(dense_plan(2, 2, Sq, Skv, M));
      attention(dq.view(q), dk.view(k), dv.view(v), dense, dout.view(q), static_cast<float*>(dlse.ptr));
      OracleOptions options;
      options.block_m = M;
      predictor.predict_from_lse(dq.view(q), dk.view(k), static_cast<const float*>(dlse.ptr), options);
      const Plan plan = predictor.download();
      const SliceScores scores = compute_slice_scores(q.view(), k.view(), M);
      const double tau = 0.5 / static_cast<double>(Skv);
      expect_plans_match(plan, plan_from_scores(scores, tau, 1), scores, tau, 1);
      own_lse.predict(dq.view(q), dk.view(k), options);
      EXPECT_LE(differing_keys(plan, own_lse.download()), plan.nnz() / 1000 + 2);
    }
  const auto q = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 64, 1, 64);
  const DeviceBuffer dq(q);
  EXPECT_THROW(predictor.predict_from_lse(dq.view(q), dq.view(q), nullptr), Error);
  const std::vector<float> host_lse(64, 0.f);
  try {
    predictor.predict_from_lse(dq.view(q), dq.view(q), host_lse.data());
    ADD_FAILURE() << "a host LSE pointer was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("must be device memory"));
  }
}

// The text-token rule applied on the device while the plan is built equals with_text_tokens() of the plain plan
// (same predictor, same inputs, so the same bits): text lengths inside a word, across words, past the first query
// block, all of the sequence; grouped plans add the text keys one by one, as with_text_tokens does.
TEST(OracleCuda, TextTokensOnTheDeviceEqualWithTextTokens) {
  std::mt19937_64 rng(std::random_device{}());
  OraclePredictor predictor;
  const std::int64_t Sq = 333, Skv = 301;
  const auto q = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, Sq, 2, 128, 3.0f);
  const auto k = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, Skv, 2, 128, 3.0f);
  const DeviceBuffer dq(q), dk(k);
  for (int M : {64, 128})
    for (int block_n : {1, 16, M}) {
      OracleOptions options;
      options.block_m = M;
      options.block_n = block_n;
      options.tau = 8.0 / static_cast<double>(Skv);
      predictor.predict(dq.view(q), dk.view(k), options);
      const Plan plain = predictor.download();
      for (std::int64_t text : {std::int64_t{1}, std::int64_t{63}, std::int64_t{64}, std::int64_t{150}, Skv}) {
        SCOPED_TRACE(::testing::Message() << "M=" << M << " block_n=" << block_n << " text=" << text);
        options.text_tokens = text;
        const DevicePlan& device = predictor.predict(dq.view(q), dk.view(k), options);
        const Plan plan = predictor.download();
        const Plan expected = with_text_tokens(plain, text);
        EXPECT_EQ(plan.offsets, expected.offsets);
        EXPECT_EQ(plan.indices, expected.indices);
        expect_longest_first(device, plan);
      }
    }
  OracleOptions too_many;
  too_many.text_tokens = Skv + 1;
  EXPECT_THROW(predictor.predict(dq.view(q), dk.view(k), too_many), Error);
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
