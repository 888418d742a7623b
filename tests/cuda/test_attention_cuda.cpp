// The sm_90a attention against the CPU reference (fgattn::attention on CPU tensors, double accumulation) with
// the derived tolerance of docs/style.md: inputs pre-rounded to the kernel dtype, and
//   max|out - ref_hi| <= 2 * max|ref_lo - ref_hi| + atol
// where ref_lo is the same math in the kernel's precision. Outputs and LSE are poisoned (NaN) before each run.
#include <cuda_runtime.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "common/random_inputs.h"
#include "cuda/attention_test_util.h"
#include "fgattn/attention.h"
#include "fgattn/cuda.h"
#include "fgattn/error.h"
#include "fgattn/row_order.h"

using namespace fgattn;
using gputest::DeviceBuffer;

namespace {

constexpr double kAtolOut = 1e-3;  // below one bf16/f16 ulp of the O values these inputs give
constexpr double kAtolLse = 1e-3;  // fp32 LSE, ex2.approx

struct Case {
  DType dtype = DType::bf16;
  Layout layout = Layout::BSHD;
  int D = 128, block_m = 128;
  std::int64_t B = 1, H = 2, Sq = 200, Skv = 333;
  double keep = 0.3;
  bool empty_rows = true;
  std::string name() const {
    return fmt::format("{}_{}_D{}_M{}_B{}H{}Sq{}Skv{}_keep{}", dtype_name(dtype), layout == Layout::BSHD ? "BSHD" : "BHSD",
                       D, block_m, B, H, Sq, Skv, keep);
  }
};

std::uint64_t seed_of(const std::string& s) { return std::hash<std::string>{}(s) ^ 0x9e3779b97f4a7c15ull; }

Plan make_plan(std::mt19937_64& rng, const Case& c) {
  if (c.keep >= 1.0) return dense_plan(c.B, c.H, c.Sq, c.Skv, c.block_m);
  const std::int64_t rows = c.B * c.H * ((c.Sq + c.block_m - 1) / c.block_m);
  std::vector<std::int64_t> empty;
  if (c.empty_rows && rows > 2) empty = {0, rows - 1};
  return testutil::random_plan(rng, c.B, c.H, c.Sq, c.Skv, c.block_m, c.keep, empty);
}

struct Errors {
  double out_max = 0, out_mean = 0, out_bound = 0, lse_max = 0, lse_bound = 0;
};

// Runs the kernel on (q, k, v, plan) under every K/V load mode (AttentionOptions::kv_load) and checks each output
// against ref_hi with the derived bound; returns the largest errors over the modes.
Errors run_and_check(const Case& c, const HostTensor& q, const HostTensor& k, const HostTensor& v, const Plan& plan,
                     HostTensor* gpu_out = nullptr) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.D));
  // ref_hi: the double reference on the (already rounded) inputs, in f32 tensors.
  const HostTensor q32 = q.converted(DType::f32), k32 = k.converted(DType::f32), v32 = v.converted(DType::f32);
  HostTensor ref_hi = HostTensor::zeros(DType::f32, c.layout, c.B, c.Sq, c.H, c.D);
  HostLse lse_hi = HostLse::sized(c.B, c.H, c.Sq);
  attention(q32.view(), k32.view(), v32.view(), plan, ref_hi.view(), lse_hi.values.data());
  const gputest::LowRef lo = gputest::reference_lo(q32, k32, v32, plan, c.dtype, scale);
  double lo_max = 0, lse_lo_max = 0;
  for (std::int64_t b = 0; b < c.B; ++b)
    for (std::int64_t s = 0; s < c.Sq; ++s)
      for (std::int64_t h = 0; h < c.H; ++h)
        for (std::int64_t d = 0; d < c.D; ++d)
          lo_max = std::max(lo_max, std::abs(static_cast<double>(lo.out.at(b, s, h, d)) - ref_hi.at(b, s, h, d)));
  for (std::size_t i = 0; i < lse_hi.values.size(); ++i)
    if (!std::isinf(lse_hi.values[i])) lse_lo_max = std::max(lse_lo_max, static_cast<double>(std::abs(lo.lse.values[i] - lse_hi.values[i])));

  DeviceBuffer dq(q), dk(k), dv(v), dout(q.bytes.size()), dlse(lse_hi.values.size() * sizeof(float));
  Errors worst;
  worst.out_bound = 2 * lo_max + kAtolOut;
  worst.lse_bound = 2 * lse_lo_max + kAtolLse;
  for (const KvLoad mode : {KvLoad::tma_runs, KvLoad::cp_async}) {
    SCOPED_TRACE(kv_load_name(mode));
    dout.poison(), dlse.poison();
    AttentionOptions options;
    options.kv_load = mode;
    attention(dq.view(q), dk.view(k), dv.view(v), plan, dout.view(q), static_cast<float*>(dlse.ptr), options);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    HostTensor out = HostTensor::zeros(c.dtype, c.layout, c.B, c.Sq, c.H, c.D);
    EXPECT_EQ(cudaMemcpy(out.bytes.data(), dout.ptr, out.bytes.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    const auto lse = dlse.download<float>(lse_hi.values.size());

    Errors e = worst;
    e.out_max = e.out_mean = e.lse_max = 0;
    std::int64_t not_finite = 0, n = 0;
    for (std::int64_t b = 0; b < c.B; ++b)
      for (std::int64_t s = 0; s < c.Sq; ++s)
        for (std::int64_t h = 0; h < c.H; ++h)
          for (std::int64_t d = 0; d < c.D; ++d) {
            const double o = out.at(b, s, h, d), hi = ref_hi.at(b, s, h, d);
            if (!std::isfinite(o)) ++not_finite;
            const double err = std::abs(o - hi);
            e.out_max = std::max(e.out_max, std::isfinite(err) ? err : std::numeric_limits<double>::infinity());
            e.out_mean += err;
            ++n;
          }
    e.out_mean /= static_cast<double>(n);
    std::int64_t lse_bad_inf = 0;
    for (std::size_t i = 0; i < lse.size(); ++i) {
      const double hi = lse_hi.values[i];
      if (std::isinf(hi)) {
        if (!(std::isinf(lse[i]) && lse[i] < 0)) ++lse_bad_inf;
        continue;
      }
      e.lse_max = std::max(e.lse_max, std::isfinite(lse[i]) ? std::abs(lse[i] - hi) : std::numeric_limits<double>::infinity());
    }
    EXPECT_EQ(not_finite, 0) << "unwritten (NaN-poisoned) or non-finite outputs";
    EXPECT_EQ(lse_bad_inf, 0) << "empty rows must give LSE = -inf";
    EXPECT_LE(e.out_max, e.out_bound) << "O max error " << e.out_max << " (mean " << e.out_mean << ")";
    EXPECT_LE(e.lse_max, e.lse_bound) << "LSE max error " << e.lse_max;
    worst.out_max = std::max(worst.out_max, e.out_max);
    worst.out_mean = std::max(worst.out_mean, e.out_mean);
    worst.lse_max = std::max(worst.lse_max, e.lse_max);
    if (gpu_out) *gpu_out = std::move(out);
  }
  ::testing::Test::RecordProperty("out_max_err", fmt::format("{:.3g}", worst.out_max));
  ::testing::Test::RecordProperty("out_mean_err", fmt::format("{:.3g}", worst.out_mean));
  ::testing::Test::RecordProperty("lse_max_err", fmt::format("{:.3g}", worst.lse_max));
  return worst;
}

struct Inputs {
  HostTensor q, k, v;
};
Inputs random_inputs(std::mt19937_64& rng, const Case& c) {
  return {testutil::random_tensor(rng, c.dtype, c.layout, c.B, c.Sq, c.H, c.D, 2.0f),
          testutil::random_tensor(rng, c.dtype, c.layout, c.B, c.Skv, c.H, c.D, 2.0f),
          testutil::random_tensor(rng, c.dtype, c.layout, c.B, c.Skv, c.H, c.D, 1.0f)};
}

// A plan of c's shape with no rows yet (offsets = {0}): tests append each row's keys and its end offset.
Plan empty_plan(const Case& c) {
  Plan plan;
  plan.batch = c.B, plan.heads = c.H, plan.seq_q = c.Sq, plan.seq_kv = c.Skv, plan.block_m = c.block_m;
  plan.offsets.push_back(0);
  return plan;
}

Errors check_case(const Case& c) {
  SCOPED_TRACE(c.name());
  std::mt19937_64 rng(seed_of(c.name()) ^ std::random_device{}());  // fresh inputs every run
  const auto [q, k, v] = random_inputs(rng, c);
  const Plan plan = make_plan(rng, c);
  const Errors e = run_and_check(c, q, k, v, plan);
  std::printf("%-50s O max %.3g (bound %.3g) mean %.3g | LSE max %.3g (bound %.3g)\n", c.name().c_str(), e.out_max,
              e.out_bound, e.out_mean, e.lse_max, e.lse_bound);
  return e;
}

class AttentionSweep : public ::testing::TestWithParam<std::tuple<DType, Layout, int, int>> {};

TEST_P(AttentionSweep, RandomPlanOddLengthsMatchesReference) {
  const auto [dtype, layout, D, M] = GetParam();
  Case c{dtype, layout, D, M};
  c.B = 2, c.H = 3, c.Sq = 301, c.Skv = 333, c.keep = 0.3;
  check_case(c);
}

TEST_P(AttentionSweep, DensePlanManyTiles) {
  const auto [dtype, layout, D, M] = GetParam();
  Case c{dtype, layout, D, M};
  c.B = 1, c.H = 2, c.Sq = 130, c.Skv = 517, c.keep = 1.0, c.empty_rows = false;
  check_case(c);
}

std::string sweep_name(const ::testing::TestParamInfo<std::tuple<DType, Layout, int, int>>& info) {
  const auto& [dtype, layout, D, M] = info.param;
  return fmt::format("{}_{}_D{}_M{}", dtype_name(dtype), layout == Layout::BSHD ? "BSHD" : "BHSD", D, M);
}

INSTANTIATE_TEST_SUITE_P(AllBuilt, AttentionSweep,
                         ::testing::Combine(::testing::Values(DType::bf16, DType::f16),
                                            ::testing::Values(Layout::BSHD, Layout::BHSD), ::testing::Values(64, 128),
                                            ::testing::Values(64, 128)),
                         sweep_name);

TEST(AttentionCuda, SingleKey) {
  for (int M : {64, 128}) check_case(Case{DType::bf16, Layout::BSHD, 128, M, 1, 2, 77, 1, 1.0, false});
}

TEST(AttentionCuda, SingleQueryAndSparseKeys) {
  check_case(Case{DType::f16, Layout::BSHD, 64, 128, 2, 2, 1, 1000, 0.05, false});
  check_case(Case{DType::bf16, Layout::BHSD, 128, 64, 1, 1, 65, 129, 0.02, false});
}

TEST(AttentionCuda, AllRowsEmpty) {
  Case c{DType::bf16, Layout::BSHD, 128, 128, 1, 2, 150, 90, 0.0, false};
  check_case(c);
}

TEST(AttentionCuda, LongRowsUnevenDensity) {
  // Rows from 0 to all keys: exercises the longest-first schedule and the pipeline over many tiles.
  const Case c{DType::bf16, Layout::BSHD, 128, 128, 1, 4, 700, 1500, 0.5, true};
  std::mt19937_64 rng(std::random_device{}());
  const auto [q, k, v] = random_inputs(rng, c);
  Plan plan = empty_plan(c);
  std::uniform_real_distribution<double> u(0, 1);
  for (std::int64_t r = 0; r < plan.rows(); ++r) {
    const double keep = (r % 5 == 0) ? 1.0 : u(rng) * u(rng);
    for (std::int32_t j = 0; j < c.Skv; ++j)
      if (u(rng) < keep) plan.indices.push_back(j);
    plan.offsets.push_back(static_cast<std::int64_t>(plan.indices.size()));
  }
  validate(plan);
  run_and_check(c, q, k, v, plan);
}

// Rows made of contiguous key runs and gaps, as video plans are: full tiles that are one run (loaded by TMA under
// tma_runs), runs that stop short of a tile or cross one, and last tiles ending exactly at Skv (TMA zero-fills the
// slots past it) or before it (gathered). run_and_check runs it under every KvLoad.
TEST(AttentionCuda, ContiguousRunsAndGaps) {
  for (const auto [D, M] : {std::pair{128, 128}, std::pair{128, 64}, std::pair{64, 128}}) {
    const Case c{DType::bf16, Layout::BSHD, D, M, 1, 3, 333, 1000, 0.5, false};
    SCOPED_TRACE(c.name());
    std::mt19937_64 rng(std::random_device{}());
    const auto [q, k, v] = random_inputs(rng, c);
    Plan plan = empty_plan(c);
    std::uniform_int_distribution<std::int32_t> run_length(1, 300), gap(1, 200);
    for (std::int64_t r = 0; r < plan.rows(); ++r) {
      std::int32_t next = r % 3 == 0 ? 0 : gap(rng);  // every third row starts at key 0
      while (next < c.Skv) {
        const std::int32_t end = std::min<std::int32_t>(static_cast<std::int32_t>(c.Skv), next + run_length(rng));
        for (std::int32_t j = next; j < end; ++j) plan.indices.push_back(j);
        next = end + (r % 4 == 1 ? 0 : gap(rng));  // rows 1, 5, ...: one run from their start to Skv
      }
      plan.offsets.push_back(static_cast<std::int64_t>(plan.indices.size()));
    }
    validate(plan);
    run_and_check(c, q, k, v, plan);
  }
}

TEST(AttentionCuda, StridedViewsOfPackedQkv) {
  // q, k, v as views into one packed [B, S, 3, H, D] buffer (strides not those of any packed tensor).
  const std::int64_t B = 1, S = 190, H = 2, D = 64;
  std::mt19937_64 rng(std::random_device{}());
  const HostTensor qkv = testutil::random_tensor(rng, DType::f16, Layout::BSHD, B, S, 3 * H, D, 1.5f);
  auto slice = [&](int which) {  // host tensor copy of q/k/v, for the reference
    HostTensor t = HostTensor::zeros(DType::f16, Layout::BSHD, B, S, H, D);
    for (std::int64_t s = 0; s < S; ++s)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t d = 0; d < D; ++d) t.set(0, s, h, d, qkv.at(0, s, which * H + h, d));
    return t;
  };
  const HostTensor q = slice(0), k = slice(1), v = slice(2);
  const Plan plan = testutil::random_plan(rng, B, H, S, S, 64, 0.4);
  HostTensor q32 = q.converted(DType::f32), k32 = k.converted(DType::f32), v32 = v.converted(DType::f32);
  HostTensor ref = HostTensor::zeros(DType::f32, Layout::BSHD, B, S, H, D);
  attention(q32.view(), k32.view(), v32.view(), plan, ref.view(), nullptr);
  const auto lo = gputest::reference_lo(q32, k32, v32, plan, DType::f16, 1.0 / std::sqrt(64.0));

  DeviceBuffer dqkv(qkv), dout(q.bytes.size());
  TensorView views[3];
  for (int w = 0; w < 3; ++w) {
    views[w] = dqkv.view(qkv);
    views[w].shape = {B, S, H, D};
    views[w].data = static_cast<char*>(dqkv.ptr) + w * H * D * 2;
  }
  attention(views[0], views[1], views[2], plan, dout.view(q), nullptr);
  HostTensor out = HostTensor::zeros(DType::f16, Layout::BSHD, B, S, H, D);
  ASSERT_EQ(cudaMemcpy(out.bytes.data(), dout.ptr, out.bytes.size(), cudaMemcpyDeviceToHost), cudaSuccess);
  double err = 0, lo_err = 0;
  for (std::int64_t s = 0; s < S; ++s)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t d = 0; d < D; ++d) {
        const double e = std::abs(out.at(0, s, h, d) - ref.at(0, s, h, d));
        err = std::max(err, std::isfinite(e) ? e : 1e30);
        lo_err = std::max(lo_err, std::abs(static_cast<double>(lo.out.at(0, s, h, d)) - ref.at(0, s, h, d)));
      }
  EXPECT_LE(err, 2 * lo_err + kAtolOut);
}

TEST(AttentionCuda, DifferentPlanChangesOutput) {
  // Negative test: the mask matters. Same inputs, two plans that differ in one key of one row.
  const Case c{DType::bf16, Layout::BSHD, 128, 128, 1, 1, 128, 200, 0.5, false};
  std::mt19937_64 rng(std::random_device{}());
  const auto [q, k, v] = random_inputs(rng, c);
  const Plan a = make_plan(rng, c);
  Plan b = a;
  // Drop the key with the largest score for query 0 from the only row: the output must move.
  const auto keys = a.keys(0);
  std::int32_t best = keys[0];
  double best_s = -1e30;
  for (auto j : keys) {
    double s = 0;
    for (int d = 0; d < c.D; ++d) s += q.at(0, 0, 0, d) * k.at(0, j, 0, d);
    if (s > best_s) best_s = s, best = j;
  }
  b.indices.erase(std::find(b.indices.begin(), b.indices.end(), best));
  for (std::size_t r = 1; r < b.offsets.size(); ++r) b.offsets[r] -= 1;
  validate(b);
  HostTensor out_a, out_b;
  run_and_check(c, q, k, v, a, &out_a);
  run_and_check(c, q, k, v, b, &out_b);
  double diff = 0;
  for (std::int64_t d = 0; d < c.D; ++d) diff = std::max(diff, std::abs(static_cast<double>(out_a.at(0, 0, 0, d)) - out_b.at(0, 0, 0, d)));
  EXPECT_GT(diff, 1e-2) << "removing the top key of query 0 did not change its output";
}

TEST(AttentionCuda, DevicePlanReuseOnStreamIsDeterministic) {
  const Case c{DType::f16, Layout::BHSD, 128, 64, 1, 2, 250, 400, 0.25, true};
  std::mt19937_64 rng(std::random_device{}());
  const auto [q, k, v] = random_inputs(rng, c);
  const Plan plan = make_plan(rng, c);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  const DevicePlan dplan = DevicePlan::upload(plan, stream);
  EXPECT_EQ(dplan.nnz, plan.nnz());
  DeviceBuffer dq(q), dk(k), dv(v), o1(q.bytes.size()), o2(q.bytes.size());
  attention(dq.view(q), dk.view(k), dv.view(v), dplan, o1.view(q), nullptr, {}, stream);
  attention(dq.view(q), dk.view(k), dv.view(v), dplan, o2.view(q), nullptr, {}, stream);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  const auto a = o1.download<std::uint16_t>(q.bytes.size() / 2), b = o2.download<std::uint16_t>(q.bytes.size() / 2);
  EXPECT_EQ(a, b);
  cudaStreamDestroy(stream);
}

// The row schedule (DevicePlan::upload's RowOrder) decides only which CTA runs which row: every order gives the
// same output, bit for bit.
TEST(AttentionCuda, EveryRowOrderGivesTheSameOutput) {
  const Case c{DType::bf16, Layout::BSHD, 128, 128, 2, 3, 700, 900, 0.3, true};
  std::mt19937_64 rng(std::random_device{}());
  const auto [q, k, v] = random_inputs(rng, c);
  const Plan plan = make_plan(rng, c);
  DeviceBuffer dq(q), dk(k), dv(v), o_head(q.bytes.size()), o_global(q.bytes.size());
  const DevicePlan per_head = DevicePlan::upload(plan, nullptr, RowOrder::longest_first_per_head);
  const DevicePlan global = DevicePlan::upload(plan, nullptr, RowOrder::longest_first_global);
  attention(dq.view(q), dk.view(k), dv.view(v), per_head, o_head.view(q), nullptr);
  attention(dq.view(q), dk.view(k), dv.view(v), global, o_global.view(q), nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(o_head.download<std::uint16_t>(q.bytes.size() / 2), o_global.download<std::uint16_t>(q.bytes.size() / 2));
  std::vector<std::int32_t> order(static_cast<std::size_t>(global.rows));
  ASSERT_EQ(cudaMemcpy(order.data(), global.order, order.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(order, schedule_rows(plan, RowOrder::longest_first_global));
}

TEST(AttentionCuda, BorrowedDevicePlanRunsAndLeavesTheArraysToTheirOwner) {
  // A borrowed view of an uploaded plan's arrays (what the torch op makes of a predictor's plan in CUDA tensors)
  // gives the owner's output, and destroying the view frees nothing: the owner still runs afterwards.
  const Case c{DType::bf16, Layout::BSHD, 128, 128, 1, 2, 300, 333, 0.3, false};
  std::mt19937_64 rng(std::random_device{}());
  const auto [q, k, v] = random_inputs(rng, c);
  const DevicePlan owner = DevicePlan::upload(make_plan(rng, c));
  DeviceBuffer dq(q), dk(k), dv(v), o_owner(q.bytes.size()), o_view(q.bytes.size()), o_after(q.bytes.size());
  attention(dq.view(q), dk.view(k), dv.view(v), owner, o_owner.view(q), nullptr);
  {
    const DevicePlan view = DevicePlan::borrow(owner.batch, owner.heads, owner.seq_q, owner.seq_kv, owner.block_m,
                                               owner.nnz, owner.offsets, owner.indices, owner.order);
    EXPECT_EQ(view.rows, owner.rows);
    EXPECT_EQ(view.attended_pairs, -1.0);
    attention(dq.view(q), dk.view(k), dv.view(v), view, o_view.view(q), nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  attention(dq.view(q), dk.view(k), dv.view(v), owner, o_after.view(q), nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::size_t n = q.bytes.size() / 2;
  EXPECT_EQ(o_view.download<std::uint16_t>(n), o_owner.download<std::uint16_t>(n));
  EXPECT_EQ(o_after.download<std::uint16_t>(n), o_owner.download<std::uint16_t>(n));
}

// Refusals: before any launch, with a message naming the argument and what is built.
class AttentionRefusals : public ::testing::Test {
 protected:
  template <typename F>
  static std::string error_of(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
};

TEST_F(AttentionRefusals, HeadDim96) {
  const HostTensor t = HostTensor::zeros(DType::bf16, Layout::BSHD, 1, 64, 1, 96);
  DeviceBuffer d(t), o(t.bytes.size());
  const Plan plan = dense_plan(1, 1, 64, 64, 128);
  EXPECT_NE(error_of([&] { attention(d.view(t), d.view(t), d.view(t), plan, o.view(t), nullptr); })
                .find("head dim 96 is not supported; built: 64, 128"),
            std::string::npos);
}

TEST_F(AttentionRefusals, Float32AndBlockM32AndBadStridesAndHostLse) {
  const HostTensor f = HostTensor::zeros(DType::f32, Layout::BSHD, 1, 64, 1, 64);
  DeviceBuffer df(f);
  const Plan plan = dense_plan(1, 1, 64, 64, 64);
  EXPECT_NE(error_of([&] { attention(df.view(f), df.view(f), df.view(f), plan, df.view(f), nullptr); }).find("built: bf16, f16"),
            std::string::npos);

  const HostTensor t = HostTensor::zeros(DType::bf16, Layout::BSHD, 1, 64, 1, 64);
  DeviceBuffer d(t), o(t.bytes.size());
  const Plan m32 = dense_plan(1, 1, 64, 64, 32);
  EXPECT_NE(error_of([&] { attention(d.view(t), d.view(t), d.view(t), m32, o.view(t), nullptr); }).find("block_m 32"),
            std::string::npos);

  TensorView odd = d.view(t);
  odd.shape = {1, 60, 1, 64};
  odd.strides = {60 * 68, 68, 64, 1};  // rows 136 bytes apart: not 16-byte aligned
  const Plan p60 = dense_plan(1, 1, 60, 60, 64);
  EXPECT_NE(error_of([&] { attention(odd, odd, odd, p60, odd, nullptr); }).find("multiple of 8"), std::string::npos);

  TensorView far = d.view(t);
  far.shape = {1, 2, 1, 64};
  far.strides = {std::int64_t{1} << 32, std::int64_t{1} << 31, 64, 1};  // rows 4 GiB apart: refused before any read
  const Plan p2 = dense_plan(1, 1, 2, 2, 64);
  EXPECT_NE(error_of([&] { attention(far, far, far, p2, far, nullptr); }).find("spans 4 GiB or more"), std::string::npos);

  std::vector<float> host_lse(64);
  EXPECT_NE(error_of([&] { attention(d.view(t), d.view(t), d.view(t), plan, o.view(t), host_lse.data()); }).find("device memory"),
            std::string::npos);

  TensorView cpu_k = t.view();
  EXPECT_NE(error_of([&] { attention(d.view(t), cpu_k, d.view(t), plan, o.view(t), nullptr); }), "(no error)");
}

}  // namespace
