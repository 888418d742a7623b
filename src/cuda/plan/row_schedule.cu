// The kernel's row schedule on the device (fgattn/row_order.h): each row's key count from the CSR offsets, then one
// CUB segmented radix sort (stable, descending) of the row ids by count, head by head or over all rows.
#include <cub/device/device_segmented_radix_sort.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include "cuda/plan/row_schedule.h"

namespace fgattn::cuda {
namespace {

constexpr std::size_t kAlign = 256;

std::size_t aligned(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Offset of segment s of the sort (the last one ends at `rows`).
struct SegmentBound {
  std::int64_t rows_per_segment, rows;
  __host__ __device__ std::int64_t operator()(std::int64_t s) const {
    return s * rows_per_segment < rows ? s * rows_per_segment : rows;
  }
};

__global__ void row_counts_kernel(const std::int64_t* offsets, std::int64_t rows, std::uint32_t* counts,
                                  std::int32_t* row_ids) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (row >= rows) return;
  counts[row] = static_cast<std::uint32_t>(offsets[row + 1] - offsets[row]);
  row_ids[row] = static_cast<std::int32_t>(row);
}

}  // namespace

cudaError_t sort_rows_by_count(void* workspace, std::size_t& bytes, const std::int64_t* offsets, std::int32_t* order,
                               std::int64_t rows, std::int64_t max_count, std::int64_t rows_per_segment,
                               cudaStream_t stream) {
  int end_bit = 1;  // only the bits a count can use: fewer radix passes
  while (end_bit < 32 && (max_count >> end_bit) != 0) ++end_bit;
  const int segments = static_cast<int>((rows + rows_per_segment - 1) / rows_per_segment);
  const auto bounds = thrust::make_transform_iterator(thrust::make_counting_iterator<std::int64_t>(0),
                                                      SegmentBound{rows_per_segment, rows});
  // Workspace: counts, sorted counts (CUB's key output), row ids, then CUB's scratch.
  const std::size_t array_bytes = aligned(static_cast<std::size_t>(rows) * 4);
  std::size_t cub_bytes = 0;
  cudaError_t e = cub::DeviceSegmentedRadixSort::SortPairsDescending(
      nullptr, cub_bytes, static_cast<const std::uint32_t*>(nullptr), static_cast<std::uint32_t*>(nullptr),
      static_cast<const std::int32_t*>(nullptr), order, static_cast<int>(rows), segments, bounds, bounds + 1, 0,
      end_bit, stream);
  if (e != cudaSuccess) return e;
  if (workspace == nullptr) {
    bytes = 3 * array_bytes + aligned(cub_bytes);
    return cudaSuccess;
  }
  auto* base = static_cast<char*>(workspace);
  auto* counts = reinterpret_cast<std::uint32_t*>(base);
  auto* counts_sorted = reinterpret_cast<std::uint32_t*>(base + array_bytes);
  auto* row_ids = reinterpret_cast<std::int32_t*>(base + 2 * array_bytes);
  void* cub_scratch = base + 3 * array_bytes;
  constexpr int kThreads = 256;
  row_counts_kernel<<<static_cast<unsigned>((rows + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      offsets, rows, counts, row_ids);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  return cub::DeviceSegmentedRadixSort::SortPairsDescending(cub_scratch, cub_bytes, counts, counts_sorted, row_ids,
                                                            order, static_cast<int>(rows), segments, bounds,
                                                            bounds + 1, 0, end_bit, stream);
}

}  // namespace fgattn::cuda
