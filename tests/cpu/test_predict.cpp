// CPU predictors: exact slice scores against brute force, plan rules for the oracle and Top-CDF.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/random_inputs.h"
#include "fgattn/error.h"
#include "fgattn/predict.h"
#include "fgattn/workload.h"

using namespace fgattn;
using testutil::random_tensor;

namespace {

// Brute force in long double: score[row][j] = max over the block's queries of softmax P[q, j].
std::vector<long double> brute_scores(const HostTensor& q, const HostTensor& k, int M) {
  const std::int64_t B = q.shape[0], Sq = q.shape[1], H = q.shape[2], D = q.shape[3], Skv = k.shape[1];
  const std::int64_t nqb = (Sq + M - 1) / M;
  std::vector<long double> out(static_cast<std::size_t>(B * H * nqb * Skv), 0.0L);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t s = 0; s < Sq; ++s) {
        std::vector<long double> l(static_cast<std::size_t>(Skv));
        long double m = -INFINITY, z = 0;
        for (std::int64_t j = 0; j < Skv; ++j) {
          long double d = 0;
          for (std::int64_t e = 0; e < D; ++e) d += static_cast<long double>(q.at(b, s, h, e)) * k.at(b, j, h, e);
          l[static_cast<std::size_t>(j)] = d / std::sqrt(static_cast<long double>(D));
          m = std::max(m, l[static_cast<std::size_t>(j)]);
        }
        for (auto& x : l) z += (x = std::exp(x - m));
        const std::int64_t row = (b * H + h) * nqb + s / M;
        for (std::int64_t j = 0; j < Skv; ++j) {
          auto& o = out[static_cast<std::size_t>(row * Skv + j)];
          o = std::max(o, l[static_cast<std::size_t>(j)] / z);
        }
      }
  return out;
}

}  // namespace

TEST(SliceScores, MatchBruteForceIncludingShortBlocks) {
  std::mt19937_64 rng(1234);
  struct Case { std::int64_t B, Sq, Skv, H, D; int M; Layout layout; DType dtype; };
  for (const Case& c : {Case{1, 37, 53, 2, 16, 8, Layout::BSHD, DType::f32}, Case{2, 64, 40, 1, 8, 16, Layout::BHSD, DType::f32},
                        Case{1, 50, 77, 3, 32, 64, Layout::BSHD, DType::bf16}, Case{1, 9, 5, 1, 4, 1, Layout::BSHD, DType::f16}}) {
    const HostTensor q = random_tensor(rng, c.dtype, c.layout, c.B, c.Sq, c.H, c.D, 2.0f);
    const HostTensor k = random_tensor(rng, c.dtype, c.layout, c.B, c.Skv, c.H, c.D, 2.0f);
    for (int threads : {1, 3}) {
      const SliceScores s = compute_slice_scores(q.view(), k.view(), c.M, threads);
      const auto want = brute_scores(q, k, c.M);
      ASSERT_EQ(s.scores.size(), want.size());
      EXPECT_EQ(s.block_m, c.M);
      EXPECT_EQ(s.seq_kv, c.Skv);
      for (std::size_t i = 0; i < want.size(); ++i)
        ASSERT_NEAR(s.scores[i], static_cast<double>(want[i]), 1e-6 * static_cast<double>(want[i]) + 1e-30) << "entry " << i;
    }
  }
}

TEST(SliceScores, RejectMismatchedInputs) {
  std::mt19937_64 rng(5);
  const HostTensor q = random_tensor(rng, DType::f32, Layout::BSHD, 1, 8, 2, 16);
  const HostTensor k3 = random_tensor(rng, DType::f32, Layout::BSHD, 1, 8, 3, 16);
  const HostTensor kd = random_tensor(rng, DType::f32, Layout::BSHD, 1, 8, 2, 8);
  EXPECT_THROW(compute_slice_scores(q.view(), k3.view(), 4), Error);
  EXPECT_THROW(compute_slice_scores(q.view(), kd.view(), 4), Error);
  EXPECT_THROW(compute_slice_scores(q.view(), q.view(), 0), Error);
}

class PredictOnWorkload : public ::testing::Test {
 protected:
  Qkv w = generate_workload(preset("tiny"));
};

TEST_F(PredictOnWorkload, OracleDensityFallsAsTauRisesAndTauZeroKeepsAll) {
  for (int M : {16, 64, 100}) {
    const SliceScores s = compute_slice_scores(w.q.view(), w.k.view(), M);
    for (int n : {1, 16, M}) {
      const Plan all = plan_from_scores(s, 0.0, n);
      EXPECT_EQ(all.density(), 1.0);
      double last = 1.0;
      for (double tau : {1e-6, 1e-4, 1e-3, 4e-3, 1e-2, 0.1, 0.5}) {
        const Plan p = plan_from_scores(s, tau, n);
        EXPECT_NO_THROW(validate(p));
        EXPECT_LE(p.density(), last) << "M=" << M << " n=" << n << " tau=" << tau;
        last = p.density();
      }
      EXPECT_LT(last, 1.0);
    }
  }
}

TEST_F(PredictOnWorkload, CoarsePlansKeepWholeGroupsAndContainTheFinePlan) {
  const int M = 64;
  const SliceScores s = compute_slice_scores(w.q.view(), w.k.view(), M);
  const double tau = 0.5 / static_cast<double>(s.seq_kv);
  const Plan fine = plan_from_scores(s, tau, 1);
  for (int n : {16, 64, 100}) {  // 100: the last group (256 = 2 * 100 + 56) is short
    const Plan p = plan_from_scores(s, tau, n);
    EXPECT_GE(p.density(), fine.density());
    for (std::int64_t r = 0; r < p.rows(); ++r) {
      std::vector<char> kept(static_cast<std::size_t>(p.seq_kv), 0);
      for (auto j : p.keys(r)) kept[static_cast<std::size_t>(j)] = 1;
      for (auto j : fine.keys(r)) EXPECT_TRUE(kept[static_cast<std::size_t>(j)]);
      for (std::int64_t g = 0; g < p.seq_kv; g += n) {
        const std::int64_t end = std::min(p.seq_kv, g + n);
        int count = 0;
        float best = 0;
        for (std::int64_t j = g; j < end; ++j) count += kept[static_cast<std::size_t>(j)], best = std::max(best, s.at(r, j));
        EXPECT_TRUE(count == 0 || count == end - g) << "row " << r << " group " << g << " partly kept";
        EXPECT_EQ(count > 0, best > tau);
      }
    }
  }
}

TEST_F(PredictOnWorkload, OraclePlanReportsDensityAndUsesThePaperDefault) {
  OracleOptions o;
  o.block_m = 64;
  const Prediction p = oracle_plan(w.q.view(), w.k.view(), o);
  EXPECT_NO_THROW(validate(p.plan));
  EXPECT_EQ(p.report.predictor, "oracle");
  EXPECT_EQ(p.report.granularity, "Mx1");
  EXPECT_DOUBLE_EQ(p.report.tau, 0.5 / 256);
  EXPECT_DOUBLE_EQ(p.report.density, p.plan.density());
  EXPECT_GT(p.report.density, 0.0);
  EXPECT_LT(p.report.density, 1.0);
  EXPECT_GE(p.report.seconds, 0.0);
  o.block_n = 64;
  EXPECT_EQ(oracle_plan(w.q.view(), w.k.view(), o).report.granularity, "MxM");
  o.block_n = 0;
  EXPECT_THROW(oracle_plan(w.q.view(), w.k.view(), o), Error);
}

// options.text_tokens gives with_text_tokens() of the plain plan, and is range-checked with its message.
TEST_F(PredictOnWorkload, OracleTextTokensEqualWithTextTokens) {
  for (int n : {1, 16}) {
    OracleOptions o;
    o.block_m = 64;
    o.block_n = n;
    o.tau = 4.0 / 256;
    const Plan plain = oracle_plan(w.q.view(), w.k.view(), o).plan;
    for (std::int64_t text : {1, 70, 256}) {
      o.text_tokens = text;
      const Plan p = oracle_plan(w.q.view(), w.k.view(), o).plan;
      const Plan expected = with_text_tokens(plain, text);
      EXPECT_EQ(p.offsets, expected.offsets) << "n=" << n << " text=" << text;
      EXPECT_EQ(p.indices, expected.indices) << "n=" << n << " text=" << text;
      EXPECT_GT(p.nnz(), plain.nnz());
    }
    o.text_tokens = 257;
    try {
      oracle_plan(w.q.view(), w.k.view(), o);
      ADD_FAILURE() << "text_tokens past Skv accepted";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "text_tokens: must be in [0, min(Sq, Skv)] = [0, 256], got 257");
    }
  }
}

TEST_F(PredictOnWorkload, TopCdfKeepsAllAtTauOneAndFallsWithTau) {
  for (int M : {16, 64, 40}) {
    TopCdfOptions o;
    o.block_m = M;
    o.pool = 16;
    o.tau = 1.0;
    EXPECT_EQ(topcdf_plan(w.q.view(), w.k.view(), o).report.density, 1.0);
    double last = 1.0;
    for (double tau : {0.99, 0.95, 0.9, 0.5, 0.1}) {
      o.tau = tau;
      const Prediction p = topcdf_plan(w.q.view(), w.k.view(), o);
      EXPECT_NO_THROW(validate(p.plan));
      EXPECT_EQ(p.report.predictor, "topcdf");
      EXPECT_LE(p.report.density, last) << "M=" << M << " tau=" << tau;
      last = p.report.density;
      for (std::int64_t r = 0; r < p.plan.rows(); ++r)  // whole pools of 16 keys
        for (auto j : p.plan.keys(r))
          if (j % 16 == 0)
            for (int i = 1; i < 16 && j + i < p.plan.seq_kv; ++i)
              EXPECT_TRUE(std::binary_search(p.plan.keys(r).begin(), p.plan.keys(r).end(), j + i));
    }
    EXPECT_LT(last, 1.0);
  }
}

TEST_F(PredictOnWorkload, TopCdfSelfSimilarityGuardKeepsEverythingWhenUnreachable) {
  TopCdfOptions o;
  o.block_m = 64;
  o.tau = 0.1;
  o.sim_threshold = 1.01;  // no block of several distinct tokens has mean cosine > 1
  EXPECT_EQ(topcdf_plan(w.q.view(), w.k.view(), o).report.density, 1.0);
  o.tau = 1.5;
  EXPECT_THROW(topcdf_plan(w.q.view(), w.k.view(), o), Error);
  o.tau = 0.9;
  o.pool = 0;
  EXPECT_THROW(topcdf_plan(w.q.view(), w.k.view(), o), Error);
}
