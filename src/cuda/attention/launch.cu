// Instantiations and launch of the gather kernel: {bf16, f16} x {D 64, 128} x {BLK_M 64, 128}.
// The host (dispatch.cpp) has already refused anything else; the final else names what reached here.
#include "cuda/attention/kernel_fwd.cuh"
#include "cuda/attention/params.h"

namespace fgattn::cuda {
namespace {

template <typename T, int D, int BM>
cudaError_t launch_typed(const AttentionParams& p, cudaStream_t stream) {
  using Cfg = TileConfig<D, BM>;
  auto* kernel = &attention_gather_kernel<T, Cfg>;
  static const cudaError_t attr =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kSmemBytes);
  if (attr != cudaSuccess) return attr;
  if (p.rows == 0) return cudaSuccess;
  kernel<<<static_cast<unsigned>(p.rows), Cfg::kThreads, Cfg::kSmemBytes, stream>>>(p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_element(const AttentionParams& p, cudaStream_t stream) {
  if (p.head_dim == 64 && p.block_m == 64) return launch_typed<T, 64, 64>(p, stream);
  if (p.head_dim == 64 && p.block_m == 128) return launch_typed<T, 64, 128>(p, stream);
  if (p.head_dim == 128 && p.block_m == 64) return launch_typed<T, 128, 64>(p, stream);
  if (p.head_dim == 128 && p.block_m == 128) return launch_typed<T, 128, 128>(p, stream);
  return cudaErrorInvalidValue;  // head dim or block size not built
}

}  // namespace

cudaError_t launch_attention(const AttentionParams& p, cudaStream_t stream) {
  if (p.element == AttnElement::bf16) return launch_element<__nv_bfloat16>(p, stream);
  if (p.element == AttnElement::f16) return launch_element<__half>(p, stream);
  return cudaErrorInvalidValue;  // element type not built
}

}  // namespace fgattn::cuda
