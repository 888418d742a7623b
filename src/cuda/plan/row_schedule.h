#pragma once
// The device row schedule's kernels (row_schedule.cu), behind schedule_rows_cuda (fgattn/plan_cuda.h). Plain types
// only: .cu files build as C++17 and cannot include plan.h.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace fgattn::cuda {

// Stable sort of the rows by descending key count (offsets[r + 1] - offsets[r] <= max_count), segment by segment of
// rows_per_segment rows (row_order_segment), into order. workspace == nullptr: only sets `bytes` (counts, row ids
// and CUB's scratch, each 256-byte aligned).
cudaError_t sort_rows_by_count(void* workspace, std::size_t& bytes, const std::int64_t* offsets, std::int32_t* order,
                               std::int64_t rows, std::int64_t max_count, std::int64_t rows_per_segment,
                               cudaStream_t stream);

}  // namespace fgattn::cuda
