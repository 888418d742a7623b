#pragma once
// Diagnostic launches of the sm_90a kernel for the benchmark (bench/attention_bench.cpp --diagnose): each splits
// what bounds the kernel. Built for bf16, D = 128, block_m = 128 (the Wan shapes) only; anything else returns
// cudaErrorInvalidValue. Outputs are not written (no_math) or meaningless (no_gather): never use them for results.
#include <cuda_runtime.h>

#include "cuda/attention/params.h"

namespace fgattn::cuda {

enum class Diagnostic {
  no_gather,  // producer signals tiles without copying: the consumers' (wgmma + softmax) ceiling
  no_math,    // consumers free each tile as it lands: the gather's ceiling
  tiles64,    // the real kernel with 64-key tiles and up to 8 stages (more, smaller tiles in flight)
};

const char* diagnostic_name(Diagnostic d);
cudaError_t launch_attention_diagnostic(const AttentionParams& p, Diagnostic d, cudaStream_t stream);

}  // namespace fgattn::cuda
