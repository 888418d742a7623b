#pragma once
#include "fgattn/attention.h"

namespace fgattn::cpu {

// The obviously-right reference: naive loops over each plan row's keys, double accumulation, two passes
// (max, then exp-sum and P·V). Arguments are already validated by the caller.
void reference_attention(const TensorView& q, const TensorView& k, const TensorView& v, const Plan& plan,
                         const TensorView& out, float* lse, double scale, int num_threads);

}  // namespace fgattn::cpu
