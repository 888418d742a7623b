// Host side of the CUDA attention: argument checks (refusals name the argument and what is built), parameter
// packing and launch (fgattn/cuda.h, fgattn/cuda_diagnostic.h).
#include "cuda/host/dispatch.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <cmath>
#include <utility>

#include "cuda/attention/params.h"
#include "cuda/host/checks.h"
#include "cuda/host/launch_diagnostic.h"
#include "fgattn/cuda.h"
#include "fgattn/cuda_diagnostic.h"
#include "fgattn/error.h"

namespace fgattn {
namespace {

using cuda::check_block_m;
using cuda::check_cuda;
using cuda::check_gpu_operand;

void check_lse_pointer(const float* lse) {
  if (lse == nullptr) return;
  cudaPointerAttributes attr{};
  check_cuda(cudaPointerGetAttributes(&attr, lse), "lse");
  if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
    throw Error("lse", "must be device memory (fp32 [B, H, Sq]) when the tensors are on the GPU");
  if (reinterpret_cast<std::uintptr_t>(lse) % 4 != 0) throw Error("lse", "must be 4-byte aligned");
}

void copy_strides(std::int64_t (&dst)[3], const TensorView& t) {
  for (int i = 0; i < 3; ++i) dst[i] = t.strides[i];
}

cuda::KvLoad kernel_kv_load(KvLoad load) {
  switch (load) {
    case KvLoad::tma_runs: return cuda::KvLoad::tma_runs;
    case KvLoad::cp_async: return cuda::KvLoad::cp_async;
  }
  throw Error("options.kv_load", fmt::format("unknown value {}; built: tma_runs, cp_async", static_cast<int>(load)));
}

}  // namespace

namespace cuda {

AttentionParams checked_params(const TensorView& q, const TensorView& k, const TensorView& v, const DevicePlan& plan,
                               const TensorView& out, float* lse, const AttentionOptions& options) {
  for (const auto& [t, name] : {std::pair{&q, "q"}, std::pair{&k, "k"}, std::pair{&v, "v"}, std::pair{&out, "out"}})
    check_gpu_operand(*t, name);
  Plan shape_only;  // validate_attention_args checks the plan's sizes against the tensors
  shape_only.batch = plan.batch, shape_only.heads = plan.heads, shape_only.seq_q = plan.seq_q,
  shape_only.seq_kv = plan.seq_kv, shape_only.block_m = plan.block_m;
  validate_attention_args(q, k, v, shape_only, out);
  if (plan.offsets == nullptr) throw Error("plan", "is empty (use DevicePlan::upload)");
  check_block_m(plan.block_m);
  check_lse_pointer(lse);
  const double scale = options.scale.value_or(1.0 / std::sqrt(static_cast<double>(q.head_dim())));
  if (!std::isfinite(scale)) throw Error("scale", "must be finite");

  AttentionParams p;
  p.q = q.data, p.k = k.data, p.v = v.data, p.o = out.data, p.lse = lse;
  copy_strides(p.q_stride, q), copy_strides(p.k_stride, k), copy_strides(p.v_stride, v), copy_strides(p.o_stride, out);
  p.offsets = plan.offsets, p.indices = plan.indices, p.order = plan.order;
  p.batch = static_cast<int>(q.batch()), p.heads = static_cast<int>(q.heads());
  p.seq_q = static_cast<int>(q.seq()), p.seq_kv = static_cast<int>(k.seq()), p.head_dim = static_cast<int>(q.head_dim());
  p.block_m = plan.block_m;
  p.rows = plan.rows;
  p.scale_log2 = static_cast<float>(scale * 1.4426950408889634);
  p.element = q.dtype == DType::bf16 ? AttnElement::bf16 : AttnElement::f16;
  p.kv_load = kernel_kv_load(options.kv_load);
  return p;
}

void attention_with_host_plan(const TensorView& q, const TensorView& k, const TensorView& v, const Plan& plan,
                              const TensorView& out, float* lse, double scale, fgattn::KvLoad kv_load) {
  for (const auto& [t, name] : {std::pair{&q, "q"}, std::pair{&k, "k"}, std::pair{&v, "v"}, std::pair{&out, "out"}})
    check_gpu_operand(*t, name);
  check_block_m(plan.block_m);
  check_lse_pointer(lse);
  const DevicePlan device_plan = DevicePlan::upload(plan);
  AttentionOptions options;
  options.scale = scale;
  options.kv_load = kv_load;
  fgattn::attention(q, k, v, device_plan, out, lse, options, nullptr);
  check_cuda(cudaStreamSynchronize(nullptr), "attention kernel");
}

}  // namespace cuda

void attention(const TensorView& q, const TensorView& k, const TensorView& v, const DevicePlan& plan,
               const TensorView& out, float* lse, const AttentionOptions& options, cudaStream_t stream) {
  const cuda::AttentionParams p = cuda::checked_params(q, k, v, plan, out, lse, options);
  check_cuda(cuda::launch_attention(p, stream), "attention kernel launch");
}

const char* diagnostic_name(KernelDiagnostic d) {
  switch (d) {
    case KernelDiagnostic::no_gather: return "diagnostic no_gather (consumers only: wgmma + softmax ceiling)";
    case KernelDiagnostic::no_math: return "diagnostic no_math (producer only: gather ceiling)";
    case KernelDiagnostic::tiles64: return "diagnostic tiles64 (64-key tiles, up to 8 stages)";
  }
  throw Error("diagnostic", fmt::format("unknown value {}", static_cast<int>(d)));
}

void attention_diagnostic(const TensorView& q, const TensorView& k, const TensorView& v, const DevicePlan& plan,
                          const TensorView& out, KernelDiagnostic d, const AttentionOptions& options,
                          cudaStream_t stream) {
  const cuda::AttentionParams p = cuda::checked_params(q, k, v, plan, out, nullptr, options);
  if (p.element != cuda::AttnElement::bf16 || p.head_dim != 128 || p.block_m != 128)
    throw Error("q", "the diagnostic kernels are built for bf16, D = 128, block_m = 128 only");
  cuda::KernelDiagnostic variant{};
  switch (d) {
    case KernelDiagnostic::no_gather: variant = cuda::KernelDiagnostic::no_gather; break;
    case KernelDiagnostic::no_math: variant = cuda::KernelDiagnostic::no_math; break;
    case KernelDiagnostic::tiles64: variant = cuda::KernelDiagnostic::tiles64; break;
    default: throw Error("diagnostic", fmt::format("unknown value {}", static_cast<int>(d)));
  }
  check_cuda(cuda::launch_attention_diagnostic(p, variant, stream), "diagnostic kernel launch");
}

}  // namespace fgattn
