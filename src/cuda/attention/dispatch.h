#pragma once
// Host entry of the CUDA attention for core/attention.cpp: checks, plan upload, launch, errors as fgattn::Error.
#include "fgattn/plan.h"
#include "fgattn/tensor.h"

namespace fgattn::cuda {

// Uploads `plan` (validated), runs the kernel on the default stream and waits for it (the simple path;
// fgattn/cuda.h has the plan-once, run-many path with no host synchronisation).
void attention_with_host_plan(const TensorView& q, const TensorView& k, const TensorView& v, const Plan& plan,
                              const TensorView& out, float* lse, double scale);

}  // namespace fgattn::cuda
