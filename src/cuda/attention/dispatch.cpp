// Host side of the CUDA attention: argument checks (refusals name the argument and what is built), plan upload
// with its row schedule (fgattn/row_order.h), parameter packing and launch.
#include "cuda/attention/dispatch.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "cuda/attention/params.h"
#include "cuda/common/checks.h"
#include "fgattn/cuda.h"
#include "fgattn/error.h"
#include "fgattn/row_order.h"

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

}  // namespace

DevicePlan DevicePlan::upload(const Plan& plan, cudaStream_t stream) {
  validate(plan);
  check_block_m(plan.block_m);
  DevicePlan d;
  d.batch = plan.batch;
  d.heads = plan.heads;
  d.seq_q = plan.seq_q;
  d.seq_kv = plan.seq_kv;
  d.block_m = plan.block_m;
  d.rows = plan.rows();
  d.nnz = plan.nnz();
  d.attended_pairs = plan.attended_pairs();
  if (d.rows > (std::int64_t{1} << 31) - 1) throw Error("plan", "more than 2^31 - 1 rows");
  // The CTA schedule (fgattn/row_order.h): longest rows first within each head, heads in turn.
  const std::vector<std::int32_t> order = schedule_rows(plan, default_row_order());
  const auto& off = plan.offsets;
  check_cuda(cudaMalloc(&d.offsets, off.size() * sizeof(std::int64_t)), "plan");
  check_cuda(cudaMalloc(&d.indices, std::max<std::size_t>(plan.indices.size(), 1) * sizeof(std::int32_t)), "plan");
  check_cuda(cudaMalloc(&d.order, std::max<std::size_t>(order.size(), 1) * sizeof(std::int32_t)), "plan");
  check_cuda(cudaMemcpyAsync(d.offsets, off.data(), off.size() * sizeof(std::int64_t), cudaMemcpyHostToDevice, stream), "plan");
  if (!plan.indices.empty())
    check_cuda(cudaMemcpyAsync(d.indices, plan.indices.data(), plan.indices.size() * sizeof(std::int32_t),
                               cudaMemcpyHostToDevice, stream), "plan");
  if (!order.empty())
    check_cuda(cudaMemcpyAsync(d.order, order.data(), order.size() * sizeof(std::int32_t), cudaMemcpyHostToDevice, stream),
               "plan");
  check_cuda(cudaStreamSynchronize(stream), "plan");  // the host vectors may go away after upload
  return d;
}

DevicePlan DevicePlan::borrow(std::int64_t batch, std::int64_t heads, std::int64_t seq_q, std::int64_t seq_kv,
                              int block_m, std::int64_t nnz, std::int64_t* offsets, std::int32_t* indices,
                              std::int32_t* order) {
  DevicePlan d;
  d.owns_memory_ = false;
  d.batch = batch, d.heads = heads, d.seq_q = seq_q, d.seq_kv = seq_kv, d.block_m = block_m;
  d.rows = plan_with_sizes(batch, heads, seq_q, seq_kv, block_m).rows();
  d.nnz = nnz, d.attended_pairs = -1.0;
  d.offsets = offsets, d.indices = indices, d.order = order;
  return d;
}

DevicePlan::DevicePlan(DevicePlan&& o) noexcept { *this = std::move(o); }

DevicePlan& DevicePlan::operator=(DevicePlan&& o) noexcept {
  if (this != &o) {
    release();
    batch = o.batch, heads = o.heads, seq_q = o.seq_q, seq_kv = o.seq_kv, block_m = o.block_m;
    rows = o.rows, nnz = o.nnz, attended_pairs = o.attended_pairs;
    offsets = std::exchange(o.offsets, nullptr);
    indices = std::exchange(o.indices, nullptr);
    order = std::exchange(o.order, nullptr);
    owns_memory_ = std::exchange(o.owns_memory_, true);
  }
  return *this;
}

DevicePlan::~DevicePlan() { release(); }

void DevicePlan::release() noexcept {
  if (owns_memory_) {
    cudaFree(offsets);
    cudaFree(indices);
    cudaFree(order);
  }
  offsets = nullptr, indices = nullptr, order = nullptr;
}

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
  p.kv_load = default_kv_load();
  return p;
}

}  // namespace cuda

void attention(const TensorView& q, const TensorView& k, const TensorView& v, const DevicePlan& plan,
               const TensorView& out, float* lse, const AttentionOptions& options, cudaStream_t stream) {
  const cuda::AttentionParams p = cuda::checked_params(q, k, v, plan, out, lse, options);
  check_cuda(cuda::launch_attention(p, stream), "attention kernel launch");
}

namespace cuda {

void attention_with_host_plan(const TensorView& q, const TensorView& k, const TensorView& v, const Plan& plan,
                              const TensorView& out, float* lse, double scale) {
  for (const auto& [t, name] : {std::pair{&q, "q"}, std::pair{&k, "k"}, std::pair{&v, "v"}, std::pair{&out, "out"}})
    check_gpu_operand(*t, name);
  check_block_m(plan.block_m);
  check_lse_pointer(lse);
  const DevicePlan device_plan = DevicePlan::upload(plan);
  AttentionOptions options;
  options.scale = scale;
  fgattn::attention(q, k, v, device_plan, out, lse, options, nullptr);
  check_cuda(cudaStreamSynchronize(nullptr), "attention kernel");
}

}  // namespace cuda
}  // namespace fgattn
