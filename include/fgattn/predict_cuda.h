#pragma once
// GPU predictors (builds with CUDA only). Inputs are CUDA tensor views (bf16/f16, D = 64 or 128, last dim
// contiguous, 16-byte aligned rows). The *_cuda functions return a host Plan with the GPU time of the prediction;
// TopCdfPredictor returns a DevicePlan built on the device, ready for attention() on the same stream.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>

#include "fgattn/cuda.h"
#include "fgattn/predict.h"

namespace fgattn {

// The oracle of predict.h on the GPU: row LSE, then per (query block, key) max_q P[q, key] > tau as bits (both on
// the tensor cores: the attention kernel's S-only mode),
// grouped into block_n-key slices (1, 2, 4, 8, 16, 32, 64 or a multiple of 64) and compacted into a Plan.
Prediction oracle_plan_cuda(const TensorView& q, const TensorView& k, const OracleOptions& options = {});

// Top-CDF of predict.h on the GPU (pool must divide block_m, block_m / pool <= 16, at most 5,120 key pools).
// Equal to the CPU's plan except where a pool's probability ties or its cumulative mass lies within rounding of
// tau (pooled logits carry ~16 significant bits). Runs a TopCdfPredictor, then copies the plan to the host;
// report.seconds is the GPU time until the plan is complete on the device (the copy is not counted).
Prediction topcdf_plan_cuda(const TensorView& q, const TensorView& k, const TopCdfOptions& options = {});

// Top-CDF with device-resident output: scratch and the output plan are allocated on first use and kept (they
// grow for a larger shape, never shrink), so a warm predict() is kernel launches on `stream` only: no allocation,
// no host synchronisation (graph-capturable). Memory: ~1 KB per key pool and head of scratch, 4 B x rows x Skv for
// the plan's index capacity, and the pooled logits (4 B x query pools x key pools per head, at most 512 MB at once).
class TopCdfPredictor {
 public:
  TopCdfPredictor();
  ~TopCdfPredictor();
  TopCdfPredictor(TopCdfPredictor&&) noexcept;
  TopCdfPredictor& operator=(TopCdfPredictor&&) noexcept;

  // Checks the arguments (fgattn::Error), then enqueues the prediction on `stream`. The returned plan belongs to
  // this predictor and is overwritten by the next predict(); its offsets, indices and order (options.row_order's
  // schedule, schedule_rows_cuda in fgattn/plan_cuda.h) are complete once `stream` reaches this point. Its nnz and attended_pairs are host numbers the device has not sent: they read -1
  // until finish().
  const DevicePlan& predict(const TensorView& q, const TensorView& k, const TopCdfOptions& options = {},
                            cudaStream_t stream = nullptr);
  // Waits for `stream` and fills the plan's nnz and attended_pairs (one copy of the offsets).
  const DevicePlan& finish(cudaStream_t stream = nullptr);
  // The last prediction as a validated host Plan (waits for `stream`).
  Plan download(cudaStream_t stream = nullptr);
  const DevicePlan& plan() const;
  std::size_t workspace_bytes() const;  // device memory held, plan included

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The oracle with device-resident output; the same workspace and plan rules as TopCdfPredictor. Memory: the row
// LSE (4 B per query), the bits (rows x block_m / 16 x Skv / 8 bytes: one bit row per warp) and the plan's index
// capacity (4 B x rows x Skv).
class OraclePredictor {
 public:
  OraclePredictor();
  ~OraclePredictor();
  OraclePredictor(OraclePredictor&&) noexcept;
  OraclePredictor& operator=(OraclePredictor&&) noexcept;

  const DevicePlan& predict(const TensorView& q, const TensorView& k, const OracleOptions& options = {},
                            cudaStream_t stream = nullptr);
  // The same plan from a row LSE the caller already has: `lse` is attention()'s (B, H, Sq) natural-log LSE of q
  // against every key of k at the default scale 1 / sqrt(D), e.g. from the dense attention a refresh step runs
  // anyway. Skips predict()'s LSE pass (the bits pass alone costs about half of dense attention).
  const DevicePlan& predict_from_lse(const TensorView& q, const TensorView& k, const float* lse,
                                     const OracleOptions& options = {}, cudaStream_t stream = nullptr);
  const DevicePlan& finish(cudaStream_t stream = nullptr);
  Plan download(cudaStream_t stream = nullptr);
  const DevicePlan& plan() const;
  double tau() const;  // the threshold of the last predict()
  std::size_t workspace_bytes() const;

 private:
  const DevicePlan& run(const TensorView& q, const TensorView& k, const float* lse, const OracleOptions& options,
                        cudaStream_t stream);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fgattn
