#pragma once
// Helpers shared by the CPU predictors: input checks and a packed f32 copy of one tensor, head-major.
#include <cstdint>
#include <vector>

#include "fgattn/tensor.h"

namespace fgattn::cpu {

// q and k on the CPU, same batch, heads and head dim, non-empty; names the argument that breaks a rule.
void check_qk(const TensorView& q, const TensorView& k);

// [B * H][S][D] f32 copy of t (rows of one (b, h) contiguous), converted in parallel over (b, h).
std::vector<float> pack_head_major(const TensorView& t, int num_threads);

}  // namespace fgattn::cpu
