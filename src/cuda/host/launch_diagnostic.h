#pragma once
// Launch of the diagnostic kernel variants (fgattn/cuda_diagnostic.h) for dispatch.cpp; C++17 like every .cu file,
// so it names the variants by a plain enum of its own.
#include <cuda_runtime.h>

#include "cuda/attention/params.h"

namespace fgattn::cuda {

enum class KernelDiagnostic { no_gather, no_math, tiles64 };

// bf16, D = 128, block_m = 128 only; anything else returns cudaErrorInvalidValue.
cudaError_t launch_attention_diagnostic(const AttentionParams& p, KernelDiagnostic d, cudaStream_t stream);

}  // namespace fgattn::cuda
