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
  double seconds = 0.0;     // wall time the prediction took (the quality readout, Plan::quality, included)
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

// The plan's dropped softmax mass (PlanQuality, plan.h) for q against k at the default scale 1 / sqrt(D), in double:
// samples_per_block = 0 measures every query (exact); n > 0 measures n queries per block, evenly spread (estimated
// where a block has more). Cost: (measured queries) x Skv x D multiply-adds.
PlanQuality plan_quality(const TensorView& q, const TensorView& k, const Plan& plan, int samples_per_block = 0,
                         int num_threads = 0);
// The rows plan_quality measures in a block of block_rows queries (0: all).
std::vector<std::int64_t> quality_queries(std::int64_t block_rows, int samples_per_block);

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
  // The quality readout: the CPU oracle measures every query's dropped mass (exact, one more Q K^T pass). false: none.
  bool quality = true;
  // >= 0: tau is chosen per call (bisection on log tau, tau above ignored) as the largest whose plan's MEAN dropped
  // mass over all queries of the call is <= this (the max is reported, not bounded: one flat query would force a
  // dense plan). < 0: off. The CPU oracle only; 20-40 exact quality passes.
  double max_dropped_mass = -1.0;
};
Prediction oracle_plan(const TensorView& q, const TensorView& k, const OracleOptions& options = {});

struct TopCdfOptions {
  int block_m = 128;
  int pool = 16;               // tokens pooled per block of Q and K
  double tau = 0.9;            // cumulative probability to keep
  double sim_threshold = 0.5;  // blocks whose mean cosine to their mean is below this are always kept
  // Key pools whose largest token norm exceeds outlier_ratio x their mean token norm (an attention sink: its mean
  // hides the sink's logit) are always kept. > 0; infinity turns the guard off (the predictor before issue 20).
  double outlier_ratio = 1.5;
  int num_threads = 0;
  // The GPU predictor's row schedule of the plan it builds (DevicePlan::order); the CPU Top-CDF ignores it.
  RowOrder row_order = RowOrder::longest_first_per_head;
  // The quality readout: the dropped mass of this many queries per block, evenly spread (estimated; the CPU
  // Top-CDF measures them in double, ~samples / block_m of a dense Q K^T). 0: none.
  int quality_samples = 4;
};
Prediction topcdf_plan(const TensorView& q, const TensorView& k, const TopCdfOptions& options = {});

}  // namespace fgattn
