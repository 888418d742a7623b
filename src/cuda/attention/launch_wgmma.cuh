#pragma once
// Launch of one instantiation of the sm_90a kernel: shared-memory opt-in, one persistent wave of CTAs (as many
// as fit the GPU at once, never more than plan rows), after encoding the TMA maps of the chosen KvLoad (or falling
// back to cp.async when TMA cannot describe the operands). Used by launch.cu and launch_diagnostic.cu.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "cuda/attention/kernel_wgmma.cuh"
#include "cuda/attention/params.h"
#include "cuda/attention/tma_maps.h"

namespace fgattn::cuda {

template <typename T, typename Cfg, KernelMode Mode = KernelMode::normal>
cudaError_t launch_wgmma(const AttentionParams& params, cudaStream_t stream) {
  AttentionParams p = params;
  if (p.kv_load != KvLoad::cp_async && !encode_kv_maps(p, Cfg::kBlockN)) p.kv_load = KvLoad::cp_async;
  auto* kernel = &attention_wgmma_kernel<T, Cfg, Mode>;
  static const cudaError_t attr =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kSmemBytes);
  if (attr != cudaSuccess) return attr;
  static const int ctas_per_sm = [&] {  // thread-safe one-time query (0 on failure)
    int n = 0;
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, Cfg::kThreads, Cfg::kSmemBytes) == cudaSuccess ? n : 0;
  }();
  if (ctas_per_sm == 0) return cudaErrorInvalidConfiguration;
  int device = 0, sms = 0;
  if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  if (const cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device); e != cudaSuccess) return e;
  if (p.rows == 0) return cudaSuccess;
  const std::int64_t grid = std::min<std::int64_t>(p.rows, static_cast<std::int64_t>(sms) * ctas_per_sm);
  kernel<<<static_cast<unsigned>(grid), Cfg::kThreads, Cfg::kSmemBytes, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace fgattn::cuda
