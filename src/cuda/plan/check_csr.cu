// The CSR contract (fgattn/plan.h) checked where the plan lives: one warp per row, the first broken row by atomicMin.
#include "cuda/plan/check_csr.h"

namespace fgattn::cuda {
namespace {

constexpr int kWarpsPerCta = 8;

__global__ void check_csr_rows_kernel(const std::int64_t* offsets, std::int64_t rows, const std::int32_t* indices,
                                      std::int64_t nnz, std::int64_t seq_kv, CsrCheckResult* result) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerCta + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row == 0 && lane == 0) result->first_offset = offsets[0], result->last_offset = offsets[rows];
  if (row >= rows) return;
  const std::int64_t begin = offsets[row], end = offsets[row + 1];
  bool broken = !(0 <= begin && begin <= end && end <= nnz);
  if (!broken) {
    // Each key against the range and the key before it in the row.
    for (std::int64_t i = begin + lane; i < end && !broken; i += 32) {
      const std::int32_t key = indices[i];
      broken = key < 0 || key >= seq_kv || (i > begin && key <= indices[i - 1]);
    }
  }
  if (__any_sync(0xffffffffu, broken) && lane == 0)
    atomicMin(&result->first_bad_row, static_cast<unsigned long long>(row));
}

}  // namespace

cudaError_t check_csr_rows(const std::int64_t* offsets, std::int64_t rows, const std::int32_t* indices,
                           std::int64_t nnz, std::int64_t seq_kv, CsrCheckResult* result, cudaStream_t stream) {
  cudaError_t e = cudaMemsetAsync(&result->first_bad_row, 0xff, sizeof(result->first_bad_row), stream);
  if (e != cudaSuccess) return e;
  const auto blocks = static_cast<unsigned>((rows + kWarpsPerCta - 1) / kWarpsPerCta);
  check_csr_rows_kernel<<<blocks, kWarpsPerCta * 32, 0, stream>>>(offsets, rows, indices, nnz, seq_kv, result);
  return cudaGetLastError();
}

}  // namespace fgattn::cuda
