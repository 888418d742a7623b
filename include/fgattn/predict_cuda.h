#pragma once
// GPU predictors (builds with CUDA only). Inputs are CUDA tensor views (bf16/f16, D = 64 or 128, last dim
// contiguous, 16-byte aligned rows); the plan comes back on the host, with the GPU time of the prediction.
#include "fgattn/predict.h"

namespace fgattn {

// The oracle of predict.h on the GPU: row LSE, then per (query block, key) max_q P[q, key] > tau as bits,
// grouped into block_n-key slices (1, 2, 4, 8, 16, 32, 64 or a multiple of 64) and compacted into a Plan.
Prediction oracle_plan_cuda(const TensorView& q, const TensorView& k, const OracleOptions& options = {});

// Top-CDF of predict.h on the GPU (pool must divide block_m). Equal to the CPU's plan except where a pool's
// probability ties or its cumulative mass lies within float rounding of tau.
Prediction topcdf_plan_cuda(const TensorView& q, const TensorView& k, const TopCdfOptions& options = {});

}  // namespace fgattn
