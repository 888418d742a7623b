#pragma once
// The paper's key table for one Q/K/V problem: for each predictor and granularity the kept fraction and
// the output error relative to dense, and the M x M (block-sparse) density needed to match the M x 1 error.
#include <functional>
#include <string>
#include <vector>

#include "fgattn/plan.h"
#include "fgattn/predict.h"
#include "fgattn/tensor.h"

namespace fgattn {

struct AnalysisOptions {
  int block_m = 64;
  double tau = -1.0;  // oracle tau for the fine plan; < 0: 0.5 / Skv
  int num_threads = 0;
  std::function<void(const std::string& stage, double fraction)> progress;  // optional
};

struct AnalysisRow {
  std::string predictor;    // "oracle", "topcdf", "dense"
  std::string granularity;  // "Mx1", "Mx16", "MxM"
  double tau = 0.0;
  double density = 0.0;
  double rel_error = 0.0;   // ||O - O_dense|| / ||O_dense||
  double predict_seconds = 0.0;
  PlanQuality quality;      // the plan's dropped softmax mass over every query (exact: plan_quality, predict.h)
};

struct AnalysisReport {
  int block_m = 64;
  AnalysisRow fine;              // oracle M x 1 at the default tau
  AnalysisRow block_at_equal_error;  // smallest-density M x M oracle plan whose error <= fine's
  std::vector<AnalysisRow> rows;
  // Masks of one head (b = 0, h = 0) for the picture: [nQB][Skv] for the fine plan and the block plan.
  Plan fine_plan, block_plan;
};

AnalysisReport analyze(const TensorView& q, const TensorView& k, const TensorView& v, const AnalysisOptions& options);

}  // namespace fgattn
