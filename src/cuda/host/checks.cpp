#include "cuda/host/checks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>

#include "cuda/attention/params.h"
#include "fgattn/error.h"

namespace fgattn::cuda {
namespace {

std::string built_list(const int* values, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(values[i]);
  return s;
}

}  // namespace

void check_cuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  // A failed call (e.g. cudaMalloc out of memory) also sets the runtime's last error; clear it, or the next launch's
  // cudaGetLastError() check would report it again after the caller recovered. Sticky errors stay regardless.
  (void)cudaGetLastError();
  throw Error(what, fmt::format("CUDA error: {}", cudaGetErrorString(e)));
}

void check_gpu_operand(const TensorView& t, const char* name) {
  if (t.device != Device::cuda) throw Error(name, "must be a CUDA tensor (every operand on one GPU)");
  if (t.dtype != DType::bf16 && t.dtype != DType::f16)
    throw Error(name, fmt::format("dtype {} is not supported on the GPU; built: bf16, f16", dtype_name(t.dtype)));
  const auto* dims = cuda::kBuiltHeadDims;
  const std::size_t ndims = std::size(cuda::kBuiltHeadDims);
  if (std::find(dims, dims + ndims, t.head_dim()) == dims + ndims)
    throw Error(name, fmt::format("head dim {} is not supported; built: {}", t.head_dim(), built_list(dims, ndims)));
  if (t.strides[3] != 1) throw Error(name, "the head dimension must be contiguous (stride 1)");
  if (reinterpret_cast<std::uintptr_t>(t.data) % 16 != 0) throw Error(name, "data must be 16-byte aligned");
  for (int i = 0; i < 3; ++i)
    if (t.strides[i] % 8 != 0)
      throw Error(name, fmt::format("stride {} of dim {} must be a multiple of 8 elements (16 bytes)", t.strides[i], i));
  // The gather addresses a row as key x stride with a 32-bit byte stride (one IMAD.WIDE.U32 per copy).
  if (t.strides[1] * 2 >= (std::int64_t{1} << 32))
    throw Error(name, fmt::format("stride {} of dim 1 (the sequence) spans 4 GiB or more; the GPU kernel steps rows by "
                                  "32-bit byte strides",
                                  t.strides[1]));
  if (t.seq() >= (std::int64_t{1} << 31) - 128) throw Error(name, "sequence longer than 2^31 - 128 tokens");
}

void check_block_m(int block_m) {
  const auto* ms = cuda::kBuiltBlockM;
  const std::size_t n = std::size(cuda::kBuiltBlockM);
  if (std::find(ms, ms + n, block_m) == ms + n)
    throw Error("plan", fmt::format("block_m {} is not supported on the GPU; built: {}", block_m, built_list(ms, n)));
}

}  // namespace fgattn::cuda
