// The quality readout (issue 20): plan_quality against brute force in long double, the predictors' quality, the
// max_dropped_mass option, and the FGQUAL1 plan-file section (with files written before it existed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/error_of.h"
#include "common/random_inputs.h"
#include "fgattn/predict.h"

using namespace fgattn;
using testutil::error_of;
using testutil::random_plan;
using testutil::random_tensor;

namespace {

// dropped(q) = 1 - sum over the keys of q's block of softmax P[q, j], for every query (long double).
std::vector<long double> brute_dropped(const HostTensor& q, const HostTensor& k, const Plan& plan) {
  const std::int64_t B = q.shape[0], Sq = q.shape[1], H = q.shape[2], D = q.shape[3], Skv = k.shape[1];
  std::vector<long double> out;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t s = 0; s < Sq; ++s) {
        std::vector<long double> p(static_cast<std::size_t>(Skv));
        long double m = -INFINITY, z = 0, kept = 0;
        for (std::int64_t j = 0; j < Skv; ++j) {
          long double d = 0;
          for (std::int64_t e = 0; e < D; ++e) d += static_cast<long double>(q.at(b, s, h, e)) * k.at(b, j, h, e);
          p[static_cast<std::size_t>(j)] = d / std::sqrt(static_cast<long double>(D));
          m = std::max(m, p[static_cast<std::size_t>(j)]);
        }
        for (auto& x : p) z += (x = std::exp(x - m));
        for (std::int32_t j : plan.keys(plan.row_index(b, h, s / plan.block_m))) kept += p[static_cast<std::size_t>(j)];
        out.push_back(1.0L - kept / z);
      }
  return out;
}

std::string temp_path(const char* name) { return (std::filesystem::temp_directory_path() / name).string(); }

}  // namespace

TEST(PlanQuality, ExactMatchesBruteForceWithOddLengthsEmptyRowsAndAllKeys) {
  std::mt19937_64 rng(2001);
  const std::int64_t B = 2, Sq = 77, Skv = 53, H = 3, D = 9;
  const int M = 16;
  const HostTensor q = random_tensor(rng, DType::f32, Layout::BSHD, B, Sq, H, D, 3.0f);
  const HostTensor k = random_tensor(rng, DType::f32, Layout::BSHD, B, Skv, H, D, 3.0f);
  for (double keep : {0.0, 0.3, 1.0}) {
    const Plan plan = random_plan(rng, B, H, Sq, Skv, M, keep, {1, 7});  // rows 1 and 7 keep nothing
    const auto want = brute_dropped(q, k, plan);
    long double sum = 0, mx = 0;
    for (long double d : want) sum += d, mx = std::max(mx, d);
    const PlanQuality got = plan_quality(q.view(), k.view(), plan, 0, 2);
    EXPECT_FALSE(got.estimated);
    EXPECT_EQ(got.queries, B * H * Sq);
    EXPECT_NEAR(got.dropped_mass_mean, static_cast<double>(sum / want.size()), 1e-12) << "keep " << keep;
    EXPECT_NEAR(got.dropped_mass_max, static_cast<double>(mx), 1e-12) << "keep " << keep;
    EXPECT_DOUBLE_EQ(got.dropped_mass_max, 1.0) << "an empty row drops all its mass";
  }
  const Plan all = dense_plan(B, H, Sq, Skv, M);
  const PlanQuality dense = plan_quality(q.view(), k.view(), all, 0, 2);
  EXPECT_NEAR(dense.dropped_mass_max, 0.0, 1e-12);
}

TEST(PlanQuality, SampledQueriesAreTheOnesMeasured) {
  std::mt19937_64 rng(2002);
  const std::int64_t Sq = 45, Skv = 31;
  const int M = 16;  // blocks of 16, 16, 13 queries
  const HostTensor q = random_tensor(rng, DType::f32, Layout::BSHD, 1, Sq, 2, 8, 3.0f);
  const HostTensor k = random_tensor(rng, DType::f32, Layout::BSHD, 1, Skv, 2, 8, 3.0f);
  const Plan plan = random_plan(rng, 1, 2, Sq, Skv, M, 0.4);
  const auto want = brute_dropped(q, k, plan);
  long double sum = 0;
  std::int64_t count = 0;
  for (std::int64_t h = 0; h < 2; ++h)
    for (std::int64_t qb = 0; qb < plan.query_blocks(); ++qb)
      for (std::int64_t r : quality_queries(plan.block_rows(qb), 3)) sum += want[static_cast<std::size_t>(h * Sq + qb * M + r)], ++count;
  const PlanQuality got = plan_quality(q.view(), k.view(), plan, 3, 1);
  EXPECT_TRUE(got.estimated);
  EXPECT_EQ(got.queries, count);
  EXPECT_NEAR(got.dropped_mass_mean, static_cast<double>(sum / count), 1e-12);
  EXPECT_EQ(quality_queries(5, 9).size(), 5u) << "more samples than queries: every query";
  EXPECT_NE(error_of([&] { plan_quality(q.view(), k.view(), plan, -1); }).find("samples"), std::string::npos);
  const Plan other = dense_plan(1, 2, Sq + 1, Skv, M);
  EXPECT_NE(error_of([&] { plan_quality(q.view(), k.view(), other); }).find("plan"), std::string::npos);
}

TEST(PlanQuality, PredictorsReportIt) {
  std::mt19937_64 rng(2003);
  const HostTensor q = random_tensor(rng, DType::f32, Layout::BSHD, 1, 99, 2, 16, 4.0f);
  const HostTensor k = random_tensor(rng, DType::f32, Layout::BSHD, 1, 70, 2, 16, 4.0f);
  OracleOptions oracle;
  oracle.block_m = 32;
  const Prediction o = oracle_plan(q.view(), k.view(), oracle);
  ASSERT_TRUE(o.plan.quality.has_value());
  const PlanQuality exact = plan_quality(q.view(), k.view(), o.plan);
  EXPECT_FALSE(o.plan.quality->estimated);
  EXPECT_DOUBLE_EQ(o.plan.quality->dropped_mass_mean, exact.dropped_mass_mean);
  EXPECT_GT(exact.dropped_mass_mean, 0.0);
  TopCdfOptions topcdf;
  topcdf.block_m = 32, topcdf.pool = 8;
  const Prediction t = topcdf_plan(q.view(), k.view(), topcdf);
  ASSERT_TRUE(t.plan.quality.has_value());
  EXPECT_TRUE(t.plan.quality->estimated);
  EXPECT_DOUBLE_EQ(t.plan.quality->dropped_mass_mean, plan_quality(q.view(), k.view(), t.plan, 4).dropped_mass_mean);
  topcdf.quality_samples = 0;
  EXPECT_FALSE(topcdf_plan(q.view(), k.view(), topcdf).plan.quality.has_value());
}

TEST(PlanQuality, MaxDroppedMassIsHonoured) {
  std::mt19937_64 rng(2004);
  const HostTensor q = random_tensor(rng, DType::f32, Layout::BSHD, 1, 65, 2, 16, 5.0f);
  const HostTensor k = random_tensor(rng, DType::f32, Layout::BSHD, 1, 83, 2, 16, 5.0f);
  double last_density = 0;
  for (double target : {0.2, 0.05, 0.01, 0.0}) {
    OracleOptions o;
    o.block_m = 16;
    o.max_dropped_mass = target;
    const Prediction p = oracle_plan(q.view(), k.view(), o);
    const double dropped = plan_quality(q.view(), k.view(), p.plan).dropped_mass_mean;
    EXPECT_LE(dropped, target + 1e-12) << "target " << target;
    EXPECT_GE(p.plan.density(), last_density) << "a tighter bound keeps at least as much";
    last_density = p.plan.density();
    // tau is the largest that stays under the bound: a clearly larger tau goes over it (unless nothing is left).
    OracleOptions larger = o;
    larger.max_dropped_mass = -1;
    larger.tau = p.report.tau * 1.01;
    const Plan sparser = oracle_plan(q.view(), k.view(), larger).plan;
    if (sparser.nnz() < p.plan.nnz()) EXPECT_GT(plan_quality(q.view(), k.view(), sparser).dropped_mass_mean, target);
  }
  OracleOptions bad;
  bad.max_dropped_mass = 1.5;
  EXPECT_NE(error_of([&] { oracle_plan(q.view(), k.view(), bad); }).find("max_dropped_mass"), std::string::npos);
}

TEST(PlanQuality, FileRoundTripAndOlderFiles) {
  std::mt19937_64 rng(2005);
  Plan plan = random_plan(rng, 1, 2, 37, 29, 16, 0.5);
  const std::string old_path = temp_path("fgattn_quality_old.plan"), new_path = temp_path("fgattn_quality_new.plan");
  save_plan(plan, old_path);  // no quality: the layout older writers produced
  EXPECT_EQ(std::filesystem::file_size(old_path), 8 + 6 * 8 + (plan.rows() + 1) * 8 + plan.nnz() * 4);
  EXPECT_FALSE(load_plan(old_path).quality.has_value());
  plan.quality = PlanQuality{0.125, 0.75, true, 42};
  save_plan(plan, new_path);
  const Plan back = load_plan(new_path);
  ASSERT_TRUE(back.quality.has_value());
  EXPECT_EQ(back.quality->dropped_mass_mean, 0.125);
  EXPECT_EQ(back.quality->dropped_mass_max, 0.75);
  EXPECT_TRUE(back.quality->estimated);
  EXPECT_EQ(back.quality->queries, 42);
  EXPECT_EQ(back.indices, plan.indices);
  // A section this reader does not know is skipped; a truncated one is refused.
  {
    std::ofstream out(new_path, std::ios::binary | std::ios::app);
    const char tag[8] = {'F', 'G', 'X', 'X', 'X', 'X', '9', '\0'};
    const std::int64_t size = 3;
    out.write(tag, 8);
    out.write(reinterpret_cast<const char*>(&size), 8);
    out.write("abc", 3);
  }
  EXPECT_TRUE(load_plan(new_path).quality.has_value());
  std::filesystem::resize_file(new_path, std::filesystem::file_size(new_path) - 1);
  EXPECT_NE(error_of([&] { load_plan(new_path); }).find("section"), std::string::npos);
  std::filesystem::remove(old_path);
  std::filesystem::remove(new_path);
}

TEST(TopCdfQuality, KeepsTheKeyPoolOfAnAttentionSink) {
  // Every query has a component along dim 0; one key (the sink) a large one. Its pool's mean hides it (issue 20).
  std::mt19937_64 rng(2006);
  const std::int64_t Sq = 96, Skv = 256, D = 16, sink = 137;
  HostTensor q = random_tensor(rng, DType::f32, Layout::BSHD, 1, Sq, 1, D, 2.0f);
  HostTensor k = random_tensor(rng, DType::f32, Layout::BSHD, 1, Skv, 1, D, 2.0f);
  auto* qd = reinterpret_cast<float*>(q.bytes.data());
  auto* kd = reinterpret_cast<float*>(k.bytes.data());
  for (std::int64_t s = 0; s < Sq; ++s) qd[s * D] = qd[s * D + 1] = 1.0f;
  for (std::int64_t j = 0; j < 16; ++j) kd[j * D + 1] = 16.0f;  // the pooled logits favour key pool 0 ...
  kd[sink * D] = 40.0f;                                          // ... but the sink holds most of the real mass
  TopCdfOptions o;
  o.block_m = 32, o.pool = 16, o.tau = 0.5, o.quality_samples = 0;
  o.sim_threshold = -1;  // random tokens are not self-similar: only the outlier guard decides
  auto keeps_sink = [&](const Plan& plan) {
    for (std::int64_t r = 0; r < plan.rows(); ++r) {
      const auto keys = plan.keys(r);
      if (!std::binary_search(keys.begin(), keys.end(), static_cast<std::int32_t>(sink))) return false;
    }
    return true;
  };
  const Plan guarded = topcdf_plan(q.view(), k.view(), o).plan;
  o.outlier_ratio = INFINITY;
  const Plan unguarded = topcdf_plan(q.view(), k.view(), o).plan;
  EXPECT_TRUE(keeps_sink(guarded));
  EXPECT_FALSE(keeps_sink(unguarded)) << "the input must be one the pooled mean gets wrong";
  EXPECT_LT(plan_quality(q.view(), k.view(), guarded).dropped_mass_max,
            plan_quality(q.view(), k.view(), unguarded).dropped_mass_max);
  o.outlier_ratio = 0;
  EXPECT_NE(error_of([&] { topcdf_plan(q.view(), k.view(), o); }).find("outlier_ratio"), std::string::npos);
}
