// Plans from exact slice scores: the paper's mask-reuse oracle at M x 1, and its M x N / M x M coarsenings.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "fgattn/error.h"
#include "fgattn/predict.h"

namespace fgattn {

Plan plan_from_scores(const SliceScores& scores, double tau, int block_n) {
  if (block_n < 1) throw Error("block_n", fmt::format("must be >= 1, got {}", block_n));
  if (scores.block_m < 1) throw Error("scores.block_m", fmt::format("must be >= 1, got {}", scores.block_m));
  Plan plan = plan_with_sizes(scores.batch, scores.heads, scores.seq_q, scores.seq_kv, scores.block_m);
  const std::int64_t rows = plan.rows(), Skv = scores.seq_kv;
  if (static_cast<std::int64_t>(scores.scores.size()) != rows * Skv)
    throw Error("scores", fmt::format("has {} entries, expected rows * Skv = {}", scores.scores.size(), rows * Skv));
  // Probabilities are positive, so tau <= 0 keeps every key even where a score underflowed to 0 in f32.
  const bool keep_all = tau <= 0.0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = scores.scores.data() + r * Skv;
    for (std::int64_t g = 0; g < Skv; g += block_n) {
      const std::int64_t end = std::min(Skv, g + block_n);  // the last group may be short
      bool keep = keep_all;
      for (std::int64_t j = g; j < end && !keep; ++j) keep = static_cast<double>(row[j]) > tau;
      if (keep)
        for (std::int64_t j = g; j < end; ++j) plan.indices.push_back(static_cast<std::int32_t>(j));
    }
    plan.offsets.push_back(static_cast<std::int64_t>(plan.indices.size()));
  }
  validate(plan);
  return plan;
}

namespace {

// The largest tau (bisection on log tau between the smallest and largest positive slice score) whose plan's exact
// mean dropped mass is <= max_mean; a tau below every positive score keeps every key whose probability did not
// underflow, so the search starts feasible (tau = 0, keep everything, if even that plan drops more).
double tau_for_dropped_mass(const TensorView& q, const TensorView& k, const SliceScores& scores,
                            const OracleOptions& o) {
  auto mean_dropped = [&](double tau) {
    const Plan plan = with_text_tokens(plan_from_scores(scores, tau, o.block_n), o.text_tokens);
    return plan_quality(q, k, plan, 0, o.num_threads).dropped_mass_mean;
  };
  float lo_score = 0, hi_score = 0;
  for (float s : scores.scores)
    if (s > 0) {
      lo_score = lo_score == 0 ? s : std::min(lo_score, s);
      hi_score = std::max(hi_score, s);
    }
  if (hi_score == 0) return 0.0;
  double lo = std::log(static_cast<double>(lo_score)) - 1.0, hi = std::log(static_cast<double>(hi_score));
  if (mean_dropped(std::exp(lo)) > o.max_dropped_mass) return 0.0;
  if (mean_dropped(std::exp(hi)) <= o.max_dropped_mass) return std::exp(hi);
  constexpr int kSteps = 24;  // the log-tau bracket shrinks 2^24-fold: tau within ~1e-6 relative of the edge
  for (int i = 0; i < kSteps; ++i) {
    const double mid = 0.5 * (lo + hi);
    (mean_dropped(std::exp(mid)) <= o.max_dropped_mass ? lo : hi) = mid;
  }
  return std::exp(lo);
}

}  // namespace

Prediction oracle_plan(const TensorView& q, const TensorView& k, const OracleOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.block_n < 1) throw Error("block_n", fmt::format("must be >= 1, got {}", options.block_n));
  if (!(options.max_dropped_mass < 0 || options.max_dropped_mass <= 1))
    throw Error("max_dropped_mass", fmt::format("must be in [0, 1] (< 0: off), got {}", options.max_dropped_mass));
  check_text_tokens(options.text_tokens, q.seq(), k.seq());
  const SliceScores scores = compute_slice_scores(q, k, options.block_m, options.num_threads);
  const double tau = options.max_dropped_mass >= 0 ? tau_for_dropped_mass(q, k, scores, options)
                     : options.tau < 0         ? 0.5 / static_cast<double>(k.seq())
                                               : options.tau;
  Prediction p;
  p.plan = with_text_tokens(plan_from_scores(scores, tau, options.block_n), options.text_tokens);
  if (options.quality || options.max_dropped_mass >= 0) p.plan.quality = plan_quality(q, k, p.plan, 0, options.num_threads);
  p.report.predictor = "oracle";
  p.report.granularity = options.block_n == 1 ? "Mx1" : options.block_n == options.block_m ? "MxM"
                                                                                              : fmt::format("Mx{}", options.block_n);
  p.report.tau = tau;
  p.report.density = p.plan.density();
  p.report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return p;
}

}  // namespace fgattn
