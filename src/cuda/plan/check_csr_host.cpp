// validate_csr_cuda (fgattn/plan_cuda.h): the device kernel finds the first broken row; the host names it with the
// rules of validate_csr (plan.h), reading only that row back.
#include <fmt/format.h>

#include <vector>

#include "cuda/host/checks.h"
#include "cuda/plan/check_csr.h"
#include "fgattn/error.h"
#include "fgattn/plan_cuda.h"

namespace fgattn {
namespace {

// A small stream-ordered device allocation, freed on the same stream.
class DeviceResult {
 public:
  explicit DeviceResult(cudaStream_t stream) : stream_(stream) {
    cuda::check_cuda(cudaMallocAsync(reinterpret_cast<void**>(&ptr_), sizeof(cuda::CsrCheckResult), stream),
                     "plan check");
  }
  ~DeviceResult() { cudaFreeAsync(ptr_, stream_); }
  DeviceResult(const DeviceResult&) = delete;
  DeviceResult& operator=(const DeviceResult&) = delete;
  cuda::CsrCheckResult* get() const { return ptr_; }

 private:
  cuda::CsrCheckResult* ptr_ = nullptr;
  cudaStream_t stream_;
};

template <class T>
void copy_to_host(T* dst, const T* src, std::size_t count, cudaStream_t stream) {
  if (count == 0) return;
  cuda::check_cuda(cudaMemcpyAsync(dst, src, count * sizeof(T), cudaMemcpyDeviceToHost, stream), "plan check copy");
}

}  // namespace

void validate_csr_cuda(const Plan& sizes, const std::int64_t* offsets, std::int64_t offsets_count,
                       const std::int32_t* indices, std::int64_t nnz, cudaStream_t stream) {
  validate_csr_shape(sizes, offsets_count);
  if (offsets == nullptr || (nnz > 0 && indices == nullptr))
    throw Error("plan", "offsets and indices must be device arrays, got a null pointer");
  if (nnz < 0) throw Error("plan.indices", fmt::format("nnz must be >= 0, got {}", nnz));
  const std::int64_t rows = sizes.rows();
  cuda::CsrCheckResult found{};
  {
    const DeviceResult result(stream);
    cuda::check_cuda(cuda::check_csr_rows(offsets, rows, indices, nnz, sizes.seq_kv, result.get(), stream),
                     "plan check");
    copy_to_host(&found, result.get(), 1, stream);
  }
  cuda::check_cuda(cudaStreamSynchronize(stream), "plan check");
  validate_csr_ends(found.first_offset, found.last_offset, nnz);
  if (found.first_bad_row == cuda::kNoBadRow) return;
  // The broken row alone comes to the host, where validate_csr_row words the rule it breaks.
  const auto row = static_cast<std::int64_t>(found.first_bad_row);
  std::int64_t bounds[2] = {0, 0};
  copy_to_host(bounds, offsets + row, 2, stream);
  cuda::check_cuda(cudaStreamSynchronize(stream), "plan check copy");
  std::vector<std::int32_t> keys;
  if (0 <= bounds[0] && bounds[0] <= bounds[1] && bounds[1] <= nnz) {
    keys.resize(static_cast<std::size_t>(bounds[1] - bounds[0]));
    copy_to_host(keys.data(), indices + bounds[0], keys.size(), stream);
    cuda::check_cuda(cudaStreamSynchronize(stream), "plan check copy");
  }
  validate_csr_row(sizes, row, bounds[0], bounds[1], nnz, keys);
  throw Error("plan", fmt::format("the device check flagged row {}, which the host rules accept", row));
}

}  // namespace fgattn
