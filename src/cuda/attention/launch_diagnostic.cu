// The diagnostic instantiations of diagnostic.h (bf16, D = 128, block_m = 128).
#include "cuda/attention/diagnostic.h"
#include "cuda/attention/launch_wgmma.cuh"

namespace fgattn::cuda {

const char* diagnostic_name(Diagnostic d) {
  switch (d) {
    case Diagnostic::no_gather: return "diagnostic no_gather (consumers only: wgmma + softmax ceiling)";
    case Diagnostic::no_math: return "diagnostic no_math (producer only: gather ceiling)";
    case Diagnostic::tiles64: return "diagnostic tiles64 (64-key tiles, up to 8 stages)";
  }
  return "diagnostic ?";
}

cudaError_t launch_attention_diagnostic(const AttentionParams& p, Diagnostic d, cudaStream_t stream) {
  if (p.element != AttnElement::bf16 || p.head_dim != 128 || p.block_m != 128) return cudaErrorInvalidValue;
  using T = __nv_bfloat16;
  switch (d) {
    case Diagnostic::no_gather: return launch_wgmma<T, WgmmaConfig<128, 128>, KernelMode::no_gather>(p, stream);
    case Diagnostic::no_math: return launch_wgmma<T, WgmmaConfig<128, 128>, KernelMode::no_math>(p, stream);
    case Diagnostic::tiles64: return launch_wgmma<T, WgmmaConfig<128, 128, 64>>(p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace fgattn::cuda
