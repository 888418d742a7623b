#pragma once
// CUDA attention (builds with CUDA only): plan once, run many. A DevicePlan uploads a validated Plan (CSR plus
// the row schedule of fgattn/row_order.h: head by head, longest rows first) once; attention() on it only launches,
// on the caller's stream, with no host synchronisation, so it can be captured in a CUDA graph.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "fgattn/attention.h"
#include "fgattn/plan.h"
#include "fgattn/row_order.h"
#include "fgattn/tensor.h"

namespace fgattn {

class DevicePlan {
 public:
  DevicePlan() = default;
  // Validates `plan` (throws fgattn::Error naming the first bad row) and copies it to the current device with the
  // CTAs' row schedule in `row_order` (fgattn/row_order.h; the default is the fastest measured).
  static DevicePlan upload(const Plan& plan, cudaStream_t stream = nullptr,
                           RowOrder row_order = RowOrder::longest_first_per_head);
  // A view of CSR arrays already on the device (e.g. a predictor's plan copied into framework tensors): nothing is
  // copied or checked, and the caller keeps the arrays alive and unchanged while the view is used. `order` is the CTA
  // schedule, a permutation of the rows (any permutation is correct; schedule_rows() in fgattn/row_order.h is the fast
  // one, as upload() makes it). attended_pairs reads -1 (not computed).
  static DevicePlan borrow(std::int64_t batch, std::int64_t heads, std::int64_t seq_q, std::int64_t seq_kv, int block_m,
                           std::int64_t nnz, std::int64_t* offsets, std::int32_t* indices, std::int32_t* order);
  DevicePlan(DevicePlan&& other) noexcept;
  DevicePlan& operator=(DevicePlan&& other) noexcept;
  DevicePlan(const DevicePlan&) = delete;
  DevicePlan& operator=(const DevicePlan&) = delete;
  ~DevicePlan();

  std::int64_t batch = 0, heads = 0, seq_q = 0, seq_kv = 0;
  int block_m = 128;
  std::int64_t rows = 0, nnz = 0;
  double attended_pairs = 0.0;           // as Plan::attended_pairs()
  std::int64_t* offsets = nullptr;       // device, [rows + 1]
  std::int32_t* indices = nullptr;       // device, [nnz]
  std::int32_t* order = nullptr;         // device, [rows]: the row schedule (fgattn/row_order.h)

 private:
  void release() noexcept;
  bool owns_memory_ = true;  // false for borrow(): the arrays belong to the caller
};

// q, k, v, out: CUDA tensors (bf16 or f16, D = 64 or 128, last dim contiguous, 16-byte aligned rows and strides);
// lse: null or a device buffer of fp32 [B, H, Sq]. Checks everything before the launch (fgattn::Error); the
// launch itself is asynchronous on `stream`.
void attention(const TensorView& q, const TensorView& k, const TensorView& v, const DevicePlan& plan,
               const TensorView& out, float* lse, const AttentionOptions& options = {}, cudaStream_t stream = nullptr);

}  // namespace fgattn
