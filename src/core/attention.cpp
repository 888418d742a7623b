#include "fgattn/attention.h"

#include <fmt/format.h>

#include <cmath>

#include "cpu/reference_attention.h"
#include "fgattn/error.h"
#ifdef FGATTN_WITH_CUDA
#include "cuda/host/dispatch.h"
#endif

namespace fgattn {
namespace {

void check_view(const TensorView& t, const char* name) {
  if (t.data == nullptr) throw Error(name, "data pointer is null");
  for (int i = 0; i < 4; ++i) {
    if (t.shape[i] < 1)
      throw Error(name, fmt::format("every extent of (B, S, H, D) must be >= 1, got {}", shape_string(t.shape)));
    if (t.strides[i] < 0) throw Error(name, fmt::format("strides must be non-negative, got stride {} in dim {}", t.strides[i], i));
  }
  if (t.strides[3] != 1)
    throw Error(name, fmt::format("the head dimension must be contiguous (stride 1), got stride {}", t.strides[3]));
}

}  // namespace

const char* kv_load_name(KvLoad load) {
  switch (load) {
    case KvLoad::tma_runs: return "tma_runs";
    case KvLoad::cp_async: return "cp_async";
  }
  throw Error("kv_load", fmt::format("unknown value {}", static_cast<int>(load)));
}

void validate_attention_args(const TensorView& q, const TensorView& k, const TensorView& v, const Plan& plan,
                             const TensorView& out) {
  check_view(q, "q");
  check_view(k, "k");
  check_view(v, "v");
  check_view(out, "out");
  for (const auto& [t, name] : {std::pair{&k, "k"}, std::pair{&v, "v"}, std::pair{&out, "out"}}) {
    if (t->dtype != q.dtype)
      throw Error(name, fmt::format("dtype {} differs from q's {}", dtype_name(t->dtype), dtype_name(q.dtype)));
    if (t->device != q.device) throw Error(name, "must be on the same device as q");
  }
  const auto& qs = q.shape;
  if (k.shape[0] != qs[0] || k.shape[2] != qs[2] || k.shape[3] != qs[3])
    throw Error("k", fmt::format("shape {} must be [B, Skv, H, D] with B, H, D of q {}", shape_string(k.shape), shape_string(qs)));
  if (v.shape != k.shape) throw Error("v", fmt::format("shape {} must equal k's {}", shape_string(v.shape), shape_string(k.shape)));
  if (out.shape != qs) throw Error("out", fmt::format("shape {} must equal q's {}", shape_string(out.shape), shape_string(qs)));
  if (plan.batch != qs[0] || plan.heads != qs[2] || plan.seq_q != qs[1] || plan.seq_kv != k.shape[1])
    throw Error("plan", fmt::format("is for B={} H={} Sq={} Skv={}, but the tensors have B={} H={} Sq={} Skv={}", plan.batch,
                                    plan.heads, plan.seq_q, plan.seq_kv, qs[0], qs[2], qs[1], k.shape[1]));
}

void attention(const TensorView& q, const TensorView& k, const TensorView& v, const Plan& plan, const TensorView& out,
               float* lse, const AttentionOptions& options) {
  validate_attention_args(q, k, v, plan, out);
  const double scale = options.scale.value_or(1.0 / std::sqrt(static_cast<double>(q.head_dim())));
  if (!std::isfinite(scale)) throw Error("scale", "must be finite");
  if (q.device == Device::cuda) {
#ifdef FGATTN_WITH_CUDA
    cuda::attention_with_host_plan(q, k, v, plan, out, lse, scale, options.kv_load);
    return;
#else
    throw Error("q", "is a CUDA tensor, but this fgattn build has no CUDA kernels (rebuild with nvcc)");
#endif
  }
  validate(plan);
  cpu::reference_attention(q, k, v, plan, out, lse, scale, options.num_threads);
}

}  // namespace fgattn
