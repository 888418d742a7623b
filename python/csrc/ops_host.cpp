// Ops without tensor inputs to dispatch on: plan files and the video-like generator (ops.h).
#include <torch/library.h>

#include <cstring>
#include <string>

#include "convert.h"
#include "fgattn/error.h"
#include "fgattn/plan.h"
#include "fgattn/workload.h"
#include "ops.h"

namespace fgattn_torch {

std::tuple<at::Tensor, at::Tensor, std::vector<int64_t>> load_plan(c10::string_view path) {
  try {
    const fgattn::Plan plan = fgattn::load_plan(std::string(path));
    auto [off, idx] = plan_tensors(plan);
    return {off, idx, {plan.batch, plan.heads, plan.seq_q, plan.seq_kv, plan.block_m}};
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, "fgattn.load_plan: ", e.what());
  }
}

void save_plan(c10::string_view path, const at::Tensor& offsets, const at::Tensor& indices, at::IntArrayRef sizes) {
  TORCH_CHECK_VALUE(sizes.size() == 5, "fgattn.save_plan: sizes must be [B, H, Sq, Skv, block_m]");
  TORCH_CHECK_VALUE(sizes[4] >= 1 && sizes[4] <= (1 << 20), "fgattn.save_plan: block_m must be in [1, 2^20], got ",
                    sizes[4]);
  TORCH_CHECK_TYPE(at::isIntegralType(offsets.scalar_type(), false) && at::isIntegralType(indices.scalar_type(), false),
                   "fgattn.save_plan: offsets and indices must be integer tensors, got ", offsets.scalar_type(), " and ",
                   indices.scalar_type());
  try {
    fgattn::Plan plan;
    plan.batch = sizes[0], plan.heads = sizes[1], plan.seq_q = sizes[2], plan.seq_kv = sizes[3];
    plan.block_m = static_cast<int>(sizes[4]);
    const at::Tensor off = offsets.to(at::kCPU).to(at::kLong).contiguous();
    const at::Tensor idx = indices.to(at::kCPU).to(at::kInt).contiguous();
    plan.offsets.assign(off.data_ptr<int64_t>(), off.data_ptr<int64_t>() + off.numel());
    plan.indices.assign(idx.data_ptr<int32_t>(), idx.data_ptr<int32_t>() + idx.numel());
    fgattn::save_plan(plan, std::string(path));
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, "fgattn.save_plan: ", e.what());
  }
}

// The generator's Q, K, V as fp32 CPU tensors (copied out of its host tensors; packed BSHD).
std::tuple<at::Tensor, at::Tensor, at::Tensor> workload(int64_t frames, int64_t height, int64_t width, int64_t heads,
                                                        int64_t head_dim, int64_t text_tokens, int64_t seed) {
  TORCH_CHECK_VALUE(seed >= 0, "fgattn.workload: seed must be >= 0, got ", seed);
  try {
    fgattn::WorkloadSpec spec;
    spec.name = "torch";
    spec.frames = frames, spec.height = height, spec.width = width;
    spec.heads = heads, spec.head_dim = head_dim, spec.text_tokens = text_tokens;
    spec.seed = static_cast<std::uint64_t>(seed);
    const fgattn::Qkv qkv = fgattn::generate_workload(spec, fgattn::DType::f32, fgattn::Layout::BSHD);
    auto to_tensor = [](const fgattn::HostTensor& t) {
      at::Tensor out = at::empty({t.shape[0], t.shape[1], t.shape[2], t.shape[3]}, at::kFloat);
      std::memcpy(out.data_ptr(), t.bytes.data(), t.bytes.size());
      return out;
    };
    return {to_tensor(qkv.q), to_tensor(qkv.k), to_tensor(qkv.v)};
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, "fgattn.workload: ", e.what());
  }
}

}  // namespace fgattn_torch
