// Instantiations and launch of the attention kernels: {bf16, f16} x {D 64, 128} x {BLK_M 64, 128}.
// Default: the sm_90a warp-specialised wgmma kernel (kernel_wgmma.cuh), persistent (one wave of CTAs).
// FGATTN_KERNEL=sm80 selects the earlier mma.sync kernel (kernel_fwd.cuh), kept for side-by-side benchmarks.
// The host (dispatch.cpp) has already refused anything else; the final else names what reached here.
#include <cstdlib>
#include <cstring>

#include "cuda/attention/kernel_fwd.cuh"
#include "cuda/attention/launch_wgmma.cuh"
#include "cuda/attention/params.h"

namespace fgattn::cuda {
namespace {

bool use_sm80_kernel() {
  static const bool sm80 = [] {
    const char* env = std::getenv("FGATTN_KERNEL");
    return env != nullptr && std::strcmp(env, "sm80") == 0;
  }();
  return sm80;
}

template <typename T, int D, int BM>
cudaError_t launch_sm80(const AttentionParams& p, cudaStream_t stream) {
  using Cfg = TileConfig<D, BM>;
  auto* kernel = &attention_gather_kernel<T, Cfg>;
  static const cudaError_t attr =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kSmemBytes);
  if (attr != cudaSuccess) return attr;
  if (p.rows == 0) return cudaSuccess;
  kernel<<<static_cast<unsigned>(p.rows), Cfg::kThreads, Cfg::kSmemBytes, stream>>>(p);
  return cudaGetLastError();
}

template <typename T, int D, int BM>
cudaError_t launch_typed(const AttentionParams& p, cudaStream_t stream) {
  return use_sm80_kernel() ? launch_sm80<T, D, BM>(p, stream) : launch_wgmma<T, WgmmaConfig<D, BM>>(p, stream);
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

const char* kernel_name() {
  if (use_sm80_kernel()) return "sm80 mma.sync gather";
  switch (default_kv_load()) {
    case KvLoad::cp_async: return "sm90a wgmma warp-specialised, K/V by cp.async";
    case KvLoad::tma_runs: return "sm90a wgmma warp-specialised, K/V runs by TMA, others by cp.async";
    case KvLoad::tma_rows: return "sm90a wgmma warp-specialised, K/V runs by TMA, others by per-row TMA";
    case KvLoad::tma_groups: return "sm90a wgmma warp-specialised, K/V runs and 8-key groups by TMA, others by cp.async";
  }
  return "sm90a wgmma warp-specialised";
}

}  // namespace fgattn::cuda
