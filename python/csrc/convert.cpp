// Tensors to the C++ API's types and back (convert.h).
#include "convert.h"

#include <algorithm>

#include "message.h"

namespace fgattn_torch {
namespace {

fgattn::DType to_dtype(const at::Tensor& t, const char* name) {
  switch (t.scalar_type()) {
    case at::kBFloat16: return fgattn::DType::bf16;
    case at::kHalf: return fgattn::DType::f16;
    case at::kFloat: return fgattn::DType::f32;
    default:
      TORCH_CHECK_TYPE(false, message(name, ": dtype ", t.scalar_type(),
                                      " is not supported (bfloat16 or float16; float32 on the CPU)"));
  }
  return fgattn::DType::f32;  // unreachable
}

}  // namespace

fgattn::TensorView to_view(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.dim() == 4,
                    message(name, ": must be 4-D in the logical [B, S, H, D] shape (pass a [B, H, S, D] ",
                            "tensor as t.transpose(1, 2)), got ", t.dim(), " dims with shape ", t.sizes()));
  fgattn::TensorView view;
  view.data = t.numel() > 0 ? t.data_ptr() : nullptr;
  view.dtype = to_dtype(t, name);
  view.device = t.is_cuda() ? fgattn::Device::cuda : fgattn::Device::cpu;
  TORCH_CHECK_VALUE(t.is_cpu() || t.is_cuda(),
                    message(name, ": must be a CPU or CUDA tensor, got device ", t.device()));
  for (int i = 0; i < 4; ++i) {
    view.shape[i] = t.size(i);
    view.strides[i] = t.stride(i);
  }
  return view;
}

fgattn::Plan plan_sizes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& offsets, const at::Tensor& indices,
                        int64_t block_m) {
  const int checked_block_m = checked_int(block_m, "plan", "block_m");
  TORCH_CHECK_TYPE(offsets.scalar_type() == at::kLong,
                   message("plan: offsets must be int64, got ", offsets.scalar_type()));
  TORCH_CHECK_TYPE(indices.scalar_type() == at::kInt,
                   message("plan: indices must be int32, got ", indices.scalar_type()));
  TORCH_CHECK_VALUE(offsets.dim() == 1, message("plan: offsets must be 1-D, got shape ", offsets.sizes()));
  TORCH_CHECK_VALUE(indices.dim() == 1, message("plan: indices must be 1-D, got shape ", indices.sizes()));
  fgattn::Plan plan;
  plan.batch = q.size(0);
  plan.seq_q = q.size(1);
  plan.heads = q.size(2);
  plan.seq_kv = k.size(1);
  plan.block_m = checked_block_m;
  TORCH_CHECK_VALUE(
      offsets.numel() == plan.rows() + 1,
      message("plan: offsets has ", offsets.numel(), " entries, but B*H*ceil(Sq/block_m) + 1 = ", plan.rows() + 1,
              " for B=", plan.batch, " H=", plan.heads, " Sq=", plan.seq_q, " block_m=", block_m));
  return plan;
}

void validate_plan_on_host(const fgattn::Plan& sizes, const at::Tensor& offsets, const at::Tensor& indices) {
  const at::Tensor off = offsets.to(at::kCPU).contiguous(), idx = indices.to(at::kCPU).contiguous();
  fgattn::validate_csr(sizes, {off.data_ptr<int64_t>(), static_cast<std::size_t>(off.numel())},
                       {idx.numel() > 0 ? idx.data_ptr<int32_t>() : nullptr, static_cast<std::size_t>(idx.numel())});
}

fgattn::Plan with_csr(fgattn::Plan sizes, const at::Tensor& offsets, const at::Tensor& indices) {
  const at::Tensor off = offsets.to(at::kCPU).contiguous();
  const at::Tensor idx = indices.to(at::kCPU).contiguous();
  sizes.offsets.assign(off.data_ptr<int64_t>(), off.data_ptr<int64_t>() + off.numel());
  sizes.indices.assign(idx.data_ptr<int32_t>(), idx.data_ptr<int32_t>() + idx.numel());
  return sizes;
}

fgattn::Plan to_plan(const at::Tensor& q, const at::Tensor& k, const at::Tensor& offsets, const at::Tensor& indices,
                     int64_t block_m) {
  return with_csr(plan_sizes(q, k, offsets, indices, block_m), offsets, indices);
}

std::tuple<at::Tensor, at::Tensor> plan_tensors(const fgattn::Plan& plan) {
  at::Tensor off = at::empty({static_cast<int64_t>(plan.offsets.size())}, at::kLong);
  at::Tensor idx = at::empty({plan.nnz()}, at::kInt);
  std::copy(plan.offsets.begin(), plan.offsets.end(), off.data_ptr<int64_t>());
  std::copy(plan.indices.begin(), plan.indices.end(), idx.data_ptr<int32_t>());
  return {off, idx};
}

std::tuple<at::Tensor, at::Tensor> empty_out_and_lse(const at::Tensor& q, bool return_lse) {
  at::Tensor out = at::empty_like(q);
  if (out.dim() == 4 && out.stride(3) != 1) out = at::empty(q.sizes(), q.options());
  at::Tensor lse = at::empty({return_lse ? q.size(0) : 0, return_lse ? q.size(2) : 0, return_lse ? q.size(1) : 0},
                             q.options().dtype(at::kFloat));
  if (!return_lse) lse = lse.view({0});
  return {out, lse};
}

int checked_int(int64_t value, const char* op, const char* name) {
  TORCH_CHECK_VALUE(value >= 1 && value <= (1 << 20), message(op, ": ", name, " must be in [1, 2^20], got ", value));
  return static_cast<int>(value);
}

fgattn::OracleOptions oracle_options(int64_t block_m, std::optional<double> tau) {
  fgattn::OracleOptions options;
  options.block_m = checked_int(block_m, "fgattn.oracle_plan", "block_m");
  options.tau = tau.value_or(-1.0);
  return options;
}

fgattn::TopCdfOptions topcdf_options(int64_t block_m, int64_t pool, double tau, double sim_threshold) {
  fgattn::TopCdfOptions options;
  options.block_m = checked_int(block_m, "fgattn.topcdf_plan", "block_m");
  options.pool = checked_int(pool, "fgattn.topcdf_plan", "pool");
  options.tau = tau;
  options.sim_threshold = sim_threshold;
  return options;
}

}  // namespace fgattn_torch
