#pragma once
// Diagnostic variants of the GPU kernel, for the benchmark that splits what bounds it (bench/attention_diagnose.cpp;
// builds with CUDA only). Built for bf16, D = 128, block_m = 128 (the Wan shapes) only. Their outputs are not
// written (no_math) or meaningless (no_gather): never use them for results.
#include <cuda_runtime_api.h>

#include "fgattn/attention.h"
#include "fgattn/cuda.h"
#include "fgattn/tensor.h"

namespace fgattn {

enum class KernelDiagnostic {
  no_gather,  // the producer signals tiles without copying: the consumers' (wgmma + softmax) ceiling
  no_math,    // the consumers free each tile as it lands: the gather's ceiling
  tiles64,    // the real kernel with 64-key tiles and up to 8 stages (more, smaller tiles in flight)
};

const char* diagnostic_name(KernelDiagnostic d);

// The checks of attention(), then the variant's launch on `stream`; throws fgattn::Error for a shape it is not
// built for.
void attention_diagnostic(const TensorView& q, const TensorView& k, const TensorView& v, const DevicePlan& plan,
                          const TensorView& out, KernelDiagnostic d, const AttentionOptions& options = {},
                          cudaStream_t stream = nullptr);

}  // namespace fgattn
