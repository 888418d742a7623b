#pragma once
// Launch of one instantiation of the sm_90a kernel: shared-memory opt-in, one persistent wave of CTAs (as many
// as fit the GPU at once, never more than plan rows), after encoding the TMA maps of tma_runs (or falling back to
// cp.async when TMA cannot describe the operands). Used by launch_attention.cu, launch_scores.cu and
// launch_diagnostic.cu.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "cuda/attention/kernel.cuh"
#include "cuda/attention/params.h"
#include "cuda/host/tma_maps.h"

namespace fgattn::cuda {

template <typename T, typename Traits, KernelMode Mode = KernelMode::normal>
cudaError_t launch_kernel(const AttentionParams& params, cudaStream_t stream) {
  AttentionParams p = params;
  if (p.kv_load == KvLoad::tma_runs && !encode_kv_maps(p, Traits::kBlockN)) p.kv_load = KvLoad::cp_async;
  auto* kernel = &attention_kernel<T, Traits, Mode>;
  static const cudaError_t attr =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Traits::kSmemBytes);
  if (attr != cudaSuccess) return attr;
  static const int ctas_per_sm = [&] {  // thread-safe one-time query (0 on failure)
    int n = 0;
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, Traits::kThreads, Traits::kSmemBytes) == cudaSuccess
               ? n
               : 0;
  }();
  if (ctas_per_sm == 0) return cudaErrorInvalidConfiguration;
  int device = 0, sms = 0;
  if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  if (const cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device); e != cudaSuccess) return e;
  if (p.rows == 0) return cudaSuccess;
  const std::int64_t grid = std::min<std::int64_t>(p.rows, static_cast<std::int64_t>(sms) * ctas_per_sm);
  kernel<<<static_cast<unsigned>(grid), Traits::kThreads, Traits::kSmemBytes, stream>>>(p);
  return cudaGetLastError();
}

// Calls launch<T, D, BlockM>() for the built (element, head dim, block_m) of `p`; anything else (the host refused
// it before) returns cudaErrorInvalidValue.
template <template <typename, int, int> class Launch>
cudaError_t dispatch_built(const AttentionParams& p, cudaStream_t stream) {
  auto by_shape = [&](auto element) {
    using T = decltype(element);
    if (p.head_dim == 64 && p.block_m == 64) return Launch<T, 64, 64>::run(p, stream);
    if (p.head_dim == 64 && p.block_m == 128) return Launch<T, 64, 128>::run(p, stream);
    if (p.head_dim == 128 && p.block_m == 64) return Launch<T, 128, 64>::run(p, stream);
    if (p.head_dim == 128 && p.block_m == 128) return Launch<T, 128, 128>::run(p, stream);
    return cudaErrorInvalidValue;  // head dim or block size not built
  };
  if (p.element == AttnElement::bf16) return by_shape(__nv_bfloat16{});
  if (p.element == AttnElement::f16) return by_shape(__half{});
  return cudaErrorInvalidValue;  // element type not built
}

}  // namespace fgattn::cuda
