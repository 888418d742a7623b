#pragma once
// attention(q, k, v, plan) -> O (and optionally LSE). CPU tensors run the double-accumulating reference;
// CUDA tensors run the sm_90a kernel (builds with CUDA only).
#include <optional>

#include "fgattn/plan.h"
#include "fgattn/tensor.h"

namespace fgattn {

// How the GPU kernel's producer loads K/V tiles (the CPU reference ignores it).
enum class KvLoad {
  tma_runs,  // a tile of consecutive keys (every tile of a dense or block plan) by TMA, any other by cp.async: fastest
  cp_async,  // every tile by the 16-byte cp.async gather (for comparisons)
};
const char* kv_load_name(KvLoad load);

struct AttentionOptions {
  std::optional<double> scale;      // default 1 / sqrt(D)
  int num_threads = 0;              // CPU reference: 0 = hardware concurrency
  KvLoad kv_load = KvLoad::tma_runs;  // GPU kernel only
};

// q: [B, Sq, H, D], k and v: [B, Skv, H, D], out like q; lse (optional, fp32, packed [B, H, Sq]) may be null.
// Empty plan rows give O = 0 and LSE = -inf. Throws fgattn::Error on any invalid argument.
void attention(const TensorView& q, const TensorView& k, const TensorView& v, const Plan& plan, const TensorView& out,
               float* lse, const AttentionOptions& options = {});

// Checks shapes, dtypes, devices, strides and that the plan matches; throws fgattn::Error naming the argument.
void validate_attention_args(const TensorView& q, const TensorView& k, const TensorView& v, const Plan& plan,
                             const TensorView& out);

}  // namespace fgattn
