// The frontier on the CPU: the untimed sweep on the tiny preset, the summary's interpolation, option checks, and the
// text-token rule of docs/design.md.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "common/error_of.h"
#include "common/random_inputs.h"
#include "fgattn/frontier.h"
#include "fgattn/plan.h"
#include "fgattn/workload.h"

using namespace fgattn;
using ::testing::HasSubstr;

namespace {

std::map<std::string, std::vector<FrontierPoint>> by_series(const FrontierReport& r) {
  std::map<std::string, std::vector<FrontierPoint>> m;
  for (const auto& p : r.points) m[p.series == "dense" ? "dense/" + std::to_string(p.block_m) : p.series].push_back(p);
  return m;
}

FrontierPoint point(std::string series, int block_m, double kept, double err, std::optional<double> ms = std::nullopt) {
  FrontierPoint p;
  p.series = std::move(series);
  p.block_m = block_m;
  p.kept_fraction = kept;
  p.rel_l2 = err;
  p.ms = ms;
  return p;
}

}  // namespace

TEST(FrontierCpu, TinyPresetSweepIsConsistent) {
  const Qkv qkv = generate_workload(preset("tiny"));
  FrontierOptions options;
  const FrontierReport report = frontier_cpu(qkv.q.view(), qkv.k.view(), qkv.v.view(), options);
  EXPECT_EQ(report.backend, "cpu-reference");
  EXPECT_EQ(report.shape, qkv.q.shape);
  const auto series = by_series(report);
  for (const char* name : {"dense/64", "dense/128", "64x1", "128x1", "128x16", "64x64", "128x128"})
    ASSERT_TRUE(series.contains(name)) << name;
  for (const auto& [name, pts] : series) {
    SCOPED_TRACE(name);
    for (const auto& p : pts) {
      EXPECT_FALSE(p.ms.has_value()) << "the CPU sweep is untimed";
      EXPECT_EQ(p.psnr_db.has_value(), p.rel_l2 > 0);
      EXPECT_GE(p.kept_fraction, 0.0);
      EXPECT_LE(p.kept_fraction, 1.0);
    }
    if (name.starts_with("dense")) {
      ASSERT_EQ(pts.size(), 1u);
      EXPECT_EQ(pts[0].rel_l2, 0.0);  // the dense plan against itself
      EXPECT_EQ(pts[0].kept_fraction, 1.0);
      continue;
    }
    ASSERT_GE(pts.size(), 2u);
    // Rising tau keeps a subset: the kept fraction never rises; PSNR falls exactly where the error rises.
    for (std::size_t i = 1; i < pts.size(); ++i) {
      EXPECT_GT(pts[i].tau, pts[i - 1].tau);
      EXPECT_LE(pts[i].kept_fraction, pts[i - 1].kept_fraction);
      if (pts[i].psnr_db && pts[i - 1].psnr_db) EXPECT_EQ(pts[i].rel_l2 > pts[i - 1].rel_l2, *pts[i].psnr_db < *pts[i - 1].psnr_db);
    }
    // Towards dense the error vanishes; the sparsest points carry real error; a series stops past max_error.
    EXPECT_LT(pts.front().rel_l2, 2e-3);
    EXPECT_GT(pts.back().rel_l2, 10 * pts.front().rel_l2 + 1e-3);
    for (std::size_t i = 0; i + 1 < pts.size(); ++i) EXPECT_LE(pts[i].rel_l2, options.max_error);
  }
  // At one tau, an M x M group is kept whenever one of its M x 1 slices is: block plans keep a superset.
  for (int M : {64, 128}) {
    const auto& fine = series.at(std::to_string(M) + "x1");
    const auto& block = series.at(std::to_string(M) + "x" + std::to_string(M));
    for (std::size_t i = 0; i < std::min(fine.size(), block.size()); ++i) EXPECT_GE(block[i].kept_fraction, fine[i].kept_fraction);
  }
  EXPECT_EQ(report.targets.size(), options.target_errors.size() * 5);
  EXPECT_EQ(report.ratios.size(), options.target_errors.size() * 2);
}

TEST(FrontierCpu, TextTokensAreKeptByEveryPlan) {
  WorkloadSpec spec = preset("tiny");
  spec.text_tokens = 40;
  const Qkv qkv = generate_workload(spec);
  FrontierOptions options;
  options.series = {{64, 1}};
  options.tau_factors = {1024};  // without the text rule this keeps almost nothing
  options.text_tokens = spec.text_tokens;
  const FrontierReport with_text = frontier_cpu(qkv.q.view(), qkv.k.view(), qkv.v.view(), options);
  options.text_tokens = 0;
  const FrontierReport without = frontier_cpu(qkv.q.view(), qkv.k.view(), qkv.v.view(), options);
  // 296 tokens in 5 query blocks of 64: block 0 (text queries) dense, the other 4 keep at least the 40 text keys.
  const double floor = (296.0 + 4 * 40.0) / (5 * 296.0);
  EXPECT_GE(with_text.points.back().kept_fraction, floor);
  EXPECT_LT(without.points.back().kept_fraction, floor);
}

TEST(FrontierSummary, InterpolatesLogLogBetweenBracketingPoints) {
  FrontierReport r;
  r.points = {point("dense", 64, 1.0, 0.0, 10.0), point("64x1", 64, 0.5, 0.001, 5.0), point("64x1", 64, 0.2, 0.1, 2.0),
              point("dense", 128, 1.0, 0.0, 9.0), point("128x1", 128, 0.4, 0.004, 4.0), point("128x1", 128, 0.3, 0.02, 3.0),
              point("64x64", 64, 0.9, 0.0005, 9.0), point("64x64", 64, 0.8, 0.002, 8.0)};
  summarize_frontier(r, {0.01});
  std::map<std::string, FrontierTarget> t;
  for (const auto& x : r.targets) t[x.series] = x;
  ASSERT_EQ(t.size(), 3u);
  // 64x1: halfway (in log error) from 0.001 to 0.1 -> the geometric mean of the costs.
  EXPECT_NEAR(t["64x1"].kept_fraction, std::sqrt(0.5 * 0.2), 1e-12);
  EXPECT_NEAR(*t["64x1"].ms, std::sqrt(5.0 * 2.0), 1e-12);
  EXPECT_EQ(t["64x1"].note, "");
  // 128x1: from 0.004 towards 0.02.
  const double f = std::log(0.01 / 0.004) / std::log(0.02 / 0.004);
  EXPECT_NEAR(t["128x1"].kept_fraction, std::exp(std::log(0.4) + f * std::log(0.3 / 0.4)), 1e-12);
  // 64x64: every point is below the target, so the sparsest is only an upper bound.
  EXPECT_DOUBLE_EQ(t["64x64"].kept_fraction, 0.8);
  EXPECT_EQ(t["64x64"].note, "upper bound");
  ASSERT_EQ(r.ratios.size(), 1u);
  EXPECT_EQ(r.ratios[0].block_m, 64);
  EXPECT_NEAR(*r.ratios[0].time_ratio, 8.0 / std::sqrt(10.0), 1e-12);
  EXPECT_NEAR(r.ratios[0].kept_ratio, 0.8 / std::sqrt(0.1), 1e-12);

  // A target below every swept point is interpolated from the dense point, and says so.
  summarize_frontier(r, {0.0005});
  for (const auto& x : r.targets)
    if (x.series == "64x1") {
      EXPECT_EQ(x.note, "from the dense point");
      EXPECT_GT(x.kept_fraction, 0.5);
      EXPECT_LT(x.kept_fraction, 1.0);
    }
}

TEST(FrontierOptions, BadOptionsNameTheField) {
  const Qkv qkv = generate_workload(preset("tiny"));
  auto run = [&](const FrontierOptions& o) { return testutil::error_of([&] { frontier_cpu(qkv.q.view(), qkv.k.view(), qkv.v.view(), o); }); };
  FrontierOptions o;
  o.series.clear();
  EXPECT_THAT(run(o), HasSubstr("frontier.series"));
  o = {};
  o.series = {{64, 0}};
  EXPECT_THAT(run(o), HasSubstr("block_n must be >= 1"));
  o = {};
  o.tau_factors = {1.0, -2.0};
  EXPECT_THAT(run(o), HasSubstr("frontier.tau_factors"));
  o = {};
  o.text_tokens = 257;
  EXPECT_THAT(run(o), HasSubstr("frontier.text_tokens"));
  o = {};
  o.target_errors = {0.0};
  EXPECT_THAT(run(o), HasSubstr("frontier.target_errors"));
}

#ifndef FGATTN_WITH_CUDA
TEST(FrontierCuda, CpuOnlyBuildSaysItNeedsTheCudaBuild) {
  EXPECT_FALSE(frontier_can_time());
  const Qkv qkv = generate_workload(preset("tiny"));
  EXPECT_THAT(testutil::error_of([&] { frontier_cuda(qkv.q.view(), qkv.k.view(), qkv.v.view(), {}); }), HasSubstr("CUDA build"));
}
#endif

TEST(WithTextTokens, TextKeysInEveryRowAndTextQueryBlocksDense) {
  std::mt19937_64 rng(11);
  const Plan plan = testutil::random_plan(rng, 2, 3, 300, 280, 64, 0.1);
  const Plan p = with_text_tokens(plan, 70);
  for (std::int64_t r = 0; r < p.rows(); ++r) {
    const auto keys = p.keys(r);
    const std::set<std::int32_t> got(keys.begin(), keys.end()), had(plan.keys(r).begin(), plan.keys(r).end());
    if (r % p.query_blocks() < 2) {  // blocks 0 and 1 hold queries 0..127, text queries among them
      EXPECT_EQ(static_cast<std::int64_t>(keys.size()), p.seq_kv) << "row " << r;
      continue;
    }
    for (std::int32_t j = 0; j < 70; ++j) EXPECT_TRUE(got.contains(j)) << "row " << r << " key " << j;
    for (const std::int32_t j : had) EXPECT_TRUE(got.contains(j)) << "row " << r << " lost key " << j;
    for (const std::int32_t j : got) EXPECT_TRUE(j < 70 || had.contains(j)) << "row " << r << " gained key " << j;
  }
  EXPECT_EQ(with_text_tokens(plan, 0).indices, plan.indices);
  EXPECT_THAT(testutil::error_of([&] { with_text_tokens(plan, 281); }), HasSubstr("text_tokens"));
}
