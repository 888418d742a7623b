// Ops without tensor inputs to dispatch on: plan files, the video-like generator and the plan cache's budget; and
// the library's plan check, run where the plan's tensors are (ops.h).
#include <torch/library.h>

#include <cstring>
#include <string>

#include "convert.h"
#include "fgattn/error.h"
#include "fgattn/plan.h"
#include "fgattn/workload.h"
#include "message.h"
#include "ops.h"

namespace fgattn_torch {

std::tuple<at::Tensor, at::Tensor, std::vector<int64_t>> load_plan(c10::string_view path) {
  try {
    const fgattn::Plan plan = fgattn::load_plan(std::string(path));
    auto [off, idx] = plan_tensors(plan);
    return {off, idx, {plan.batch, plan.heads, plan.seq_q, plan.seq_kv, plan.block_m}};
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, message("fgattn.load_plan: ", e.what()));
  }
}

void save_plan(c10::string_view path, const at::Tensor& offsets, const at::Tensor& indices, at::IntArrayRef sizes) {
  TORCH_CHECK_VALUE(sizes.size() == 5, "fgattn.save_plan: sizes must be [B, H, Sq, Skv, block_m]");
  const int block_m = checked_int(sizes[4], "fgattn.save_plan", "block_m");
  TORCH_CHECK_TYPE(at::isIntegralType(offsets.scalar_type(), false) && at::isIntegralType(indices.scalar_type(), false),
                   message("fgattn.save_plan: offsets and indices must be integer tensors, got ", offsets.scalar_type(),
                           " and ", indices.scalar_type()));
  try {
    fgattn::Plan sizes_only;
    sizes_only.batch = sizes[0], sizes_only.heads = sizes[1], sizes_only.seq_q = sizes[2], sizes_only.seq_kv = sizes[3];
    sizes_only.block_m = block_m;
    fgattn::save_plan(with_csr(sizes_only, offsets.to(at::kLong), indices.to(at::kInt)), std::string(path));
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, message("fgattn.save_plan: ", e.what()));
  }
}

void validate_plan(const at::Tensor& offsets, const at::Tensor& indices, int64_t batch, int64_t heads, int64_t seq_q,
                   int64_t seq_kv, int64_t block_m) {
  TORCH_CHECK_TYPE(offsets.scalar_type() == at::kLong && indices.scalar_type() == at::kInt,
                   message("plan: offsets must be int64 and indices int32, got ", offsets.scalar_type(), " and ",
                           indices.scalar_type()));
  TORCH_CHECK_VALUE(offsets.dim() == 1 && indices.dim() == 1 && offsets.device() == indices.device(),
                    message("plan: offsets and indices must be 1-D on one device, got shapes ", offsets.sizes(),
                            " and ", indices.sizes(), " on ", offsets.device(), " and ", indices.device()));
  fgattn::Plan sizes;
  sizes.batch = batch, sizes.heads = heads, sizes.seq_q = seq_q, sizes.seq_kv = seq_kv;
  sizes.block_m = checked_int(block_m, "plan", "block_m");
  try {
    if (offsets.is_cuda()) {
      validate_plan_on_device(sizes, offsets, indices);
    } else {
      validate_plan_on_host(sizes, offsets, indices);
    }
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, e.what());
  }
}

void set_plan_cache_budget(int64_t megabytes) {
  constexpr int64_t kMaxMegabytes = int64_t{1} << 40;  // 1 EB: far past any device, and no overflow in bytes
  TORCH_CHECK_VALUE(megabytes >= 0 && megabytes <= kMaxMegabytes,
                    message("fgattn.set_plan_cache_budget: megabytes must be >= 0 (0 = a quarter of the device's ",
                            "memory) and at most 2^40, got ", megabytes));
  set_device_plan_budget(static_cast<std::size_t>(megabytes) << 20);
}

// The generator's Q, K, V as fp32 CPU tensors (copied out of its host tensors; packed BSHD).
std::tuple<at::Tensor, at::Tensor, at::Tensor> workload(int64_t frames, int64_t height, int64_t width, int64_t heads,
                                                        int64_t head_dim, int64_t text_tokens, int64_t seed) {
  TORCH_CHECK_VALUE(seed >= 0, message("fgattn.workload: seed must be >= 0, got ", seed));
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
    TORCH_CHECK_VALUE(false, message("fgattn.workload: ", e.what()));
  }
}

}  // namespace fgattn_torch
