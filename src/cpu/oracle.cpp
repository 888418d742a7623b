// Plans from exact slice scores: the paper's mask-reuse oracle at M x 1, and its M x N / M x M coarsenings.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

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

Prediction oracle_plan(const TensorView& q, const TensorView& k, const OracleOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.block_n < 1) throw Error("block_n", fmt::format("must be >= 1, got {}", options.block_n));
  check_text_tokens(options.text_tokens, q.seq(), k.seq());
  const SliceScores scores = compute_slice_scores(q, k, options.block_m, options.num_threads);
  const double tau = options.tau < 0 ? 0.5 / static_cast<double>(k.seq()) : options.tau;
  Prediction p;
  p.plan = with_text_tokens(plan_from_scores(scores, tau, options.block_n), options.text_tokens);
  p.report.predictor = "oracle";
  p.report.granularity = options.block_n == 1 ? "Mx1" : options.block_n == options.block_m ? "MxM"
                                                                                              : fmt::format("Mx{}", options.block_n);
  p.report.tau = tau;
  p.report.density = p.plan.density();
  p.report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return p;
}

}  // namespace fgattn
