#pragma once
// Training-free predictors (docs/design.md). Each returns a Plan plus its density and the time it took.
#include <cstdint>
#include <string>
#include <vector>

#include "fgattn/plan.h"
#include "fgattn/row_order.h"
#include "fgattn/tensor.h"

namespace fgattn {

struct PredictorReport {
  std::string predictor;    // "oracle", "topcdf"
  std::string granularity;  // "Mx1", "MxN", "MxM"
  double tau = 0.0;
  double density = 0.0;     // kept M x 1 slices / all slices
  double seconds = 0.0;     // wall time the prediction took
};

struct Prediction {
  Plan plan;
  PredictorReport report;
};

// Exact slice scores: score[row][j] = max over the block's queries of softmax probability P[q, j]
// (computed in double). Rows follow the Plan's row order; row-major [rows][Skv].
struct SliceScores {
  std::int64_t batch = 0, heads = 0, seq_q = 0, seq_kv = 0;
  int block_m = 128;
  std::vector<float> scores;
  double seconds = 0.0;  // time to compute them
  float at(std::int64_t row, std::int64_t key) const { return scores[static_cast<std::size_t>(row * seq_kv + key)]; }
};

SliceScores compute_slice_scores(const TensorView& q, const TensorView& k, int block_m, int num_threads = 0);

// Keep a group of block_n consecutive keys for a query block iff its largest slice score exceeds tau.
// block_n = 1: M x 1 (FG-Attn); block_n = block_m: M x M (block-sparse baseline).
Plan plan_from_scores(const SliceScores& scores, double tau, int block_n);

struct OracleOptions {
  int block_m = 128;
  int block_n = 1;
  double tau = -1.0;  // < 0: the paper's default 0.5 / Skv
  int num_threads = 0;
  // Text tokens sharing the sequence (HunyuanVideo): the plan keeps them as with_text_tokens() does (plan.h), on the
  // GPU while the plan is built. 0 = none; at most min(Sq, Skv).
  std::int64_t text_tokens = 0;
  // The GPU predictors' row schedule of the plan they build (DevicePlan::order); the CPU oracle ignores it.
  RowOrder row_order = RowOrder::longest_first_per_head;
};
Prediction oracle_plan(const TensorView& q, const TensorView& k, const OracleOptions& options = {});

struct TopCdfOptions {
  int block_m = 128;
  int pool = 16;               // tokens pooled per block of Q and K
  double tau = 0.9;            // cumulative probability to keep
  double sim_threshold = 0.5;  // blocks whose mean cosine to their mean is below this are always kept
  int num_threads = 0;
  // The GPU predictor's row schedule of the plan it builds (DevicePlan::order); the CPU Top-CDF ignores it.
  RowOrder row_order = RowOrder::longest_first_per_head;
};
Prediction topcdf_plan(const TensorView& q, const TensorView& k, const TopCdfOptions& options = {});

}  // namespace fgattn
