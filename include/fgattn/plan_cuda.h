#pragma once
// Plan helpers for CSR arrays already on the GPU (builds with CUDA only): a predictor's plan, or a framework's
// tensors. The same rules and order as the host versions, validate_csr (plan.h) and schedule_rows (row_order.h).
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "fgattn/plan.h"
#include "fgattn/row_order.h"

namespace fgattn {

// validate_csr on the device: offsets (offsets_count int64) and indices (nnz int32) are device arrays for a plan of
// `sizes` (batch, heads, seq_q, seq_kv, block_m; its own CSR is not read). A kernel on `stream` finds the first row
// that breaks a rule; then this waits for `stream` (one 24-byte copy) and, for a broken plan, copies that row to
// the host and throws validate_csr's fgattn::Error naming it.
void validate_csr_cuda(const Plan& sizes, const std::int64_t* offsets, std::int64_t offsets_count,
                       const std::int32_t* indices, std::int64_t nnz, cudaStream_t stream = nullptr);

// Device memory schedule_rows_cuda needs for a plan of these sizes in this order (256-byte aligned).
std::size_t row_schedule_workspace_bytes(const Plan& sizes, RowOrder order);

// schedule_rows on the device: order_out (rows int32) = the rows of the valid device CSR offsets (rows + 1 int64)
// in `order`, from their key counts. Asynchronous on `stream`: no allocation, no wait (graph-capturable). workspace:
// device memory of at least row_schedule_workspace_bytes(sizes, order) bytes, 256-byte aligned.
void schedule_rows_cuda(const std::int64_t* offsets, const Plan& sizes, RowOrder order, std::int32_t* order_out,
                        void* workspace, std::size_t workspace_bytes, cudaStream_t stream = nullptr);

}  // namespace fgattn
