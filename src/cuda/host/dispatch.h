#pragma once
// Host entry of the CUDA attention for core/attention.cpp: checks, plan upload, launch, errors as fgattn::Error.
#include "cuda/attention/params.h"
#include "fgattn/attention.h"
#include "fgattn/cuda.h"
#include "fgattn/plan.h"
#include "fgattn/tensor.h"

namespace fgattn::cuda {

// Uploads `plan` (validated), runs the kernel on the default stream and waits for it (the simple path;
// fgattn/cuda.h has the plan-once, run-many path with no host synchronisation).
void attention_with_host_plan(const TensorView& q, const TensorView& k, const TensorView& v, const Plan& plan,
                              const TensorView& out, float* lse, double scale, fgattn::KvLoad kv_load);

// Every check of attention() (operands, plan, LSE pointer, scale), then the kernel parameters; throws fgattn::Error.
AttentionParams checked_params(const TensorView& q, const TensorView& k, const TensorView& v, const DevicePlan& plan,
                               const TensorView& out, float* lse, const AttentionOptions& options);

}  // namespace fgattn::cuda
