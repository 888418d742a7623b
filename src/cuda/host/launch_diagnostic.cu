// The diagnostic variants of fgattn/cuda_diagnostic.h (bf16, D = 128, block_m = 128).
#include "cuda/host/launch_diagnostic.h"

#include "cuda/host/launch.cuh"

namespace fgattn::cuda {

cudaError_t launch_attention_diagnostic(const AttentionParams& p, KernelDiagnostic d, cudaStream_t stream) {
  if (p.element != AttnElement::bf16 || p.head_dim != 128 || p.block_m != 128) return cudaErrorInvalidValue;
  using T = __nv_bfloat16;
  switch (d) {
    case KernelDiagnostic::no_gather: return launch_kernel<T, KernelTraits<128, 128>, KernelMode::no_gather>(p, stream);
    case KernelDiagnostic::no_math: return launch_kernel<T, KernelTraits<128, 128>, KernelMode::no_math>(p, stream);
    case KernelDiagnostic::tiles64: return launch_kernel<T, KernelTraits<128, 128, 64>>(p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace fgattn::cuda
