// The PyTorch binding: torch.ops.fgattn.* over the public C++ API (include/fgattn/). Thin on purpose: it turns
// tensors into fgattn::TensorView / fgattn::Plan, calls fgattn::attention (which validates and dispatches to the
// CPU reference or the CUDA kernel) and turns fgattn::Error into a Python ValueError with the same text.
// No kernel header is included here (STYLE.md).
//
// Schema (documented in python/README.md):
//   fgattn::attention(Tensor q, Tensor k, Tensor v, Tensor offsets, Tensor indices, int block_m,
//                     float? scale=None, bool return_lse=False) -> (Tensor out, Tensor lse)
//   q: [B, Sq, H, D], k and v: [B, Skv, H, D] logical shapes with any strides whose last one is 1 (a [B, H, S, D]
//   tensor is passed as t.transpose(1, 2)); offsets int64 [B*H*ceil(Sq/block_m) + 1], indices int32 [nnz]: the
//   plan's CSR (DESIGN.md). out: like q (empty_like, so a BHSD-strided q gives a BHSD-strided out).
//   lse: fp32 [B, H, Sq] (natural log) when return_lse, else an empty fp32 tensor of shape [0].
//   fgattn::oracle_plan(Tensor q, Tensor k, int block_m, float? tau=None, Tensor? lse=None)
//     -> (Tensor offsets, Tensor indices)   the library's oracle: keep key j for block i iff max_{q in i} P[q, j] > tau
//     (0.5/Skv). CPU: exact, in double (lse must be None). CUDA: the tensor-core OraclePredictor; with lse (attention's
//     fp32 [B, H, Sq] LSE at the default scale, on q's device) only its bits pass runs (predict_from_lse).
//   fgattn::topcdf_plan(Tensor q, Tensor k, int block_m, int pool, float tau, float sim_threshold)
//     -> (Tensor offsets, Tensor indices)   pooled-block Top-CDF with the self-similarity guard (CPU, or CUDA:
//     TopCdfPredictor)
//   The plan ops return the CSR as CPU tensors whatever the inputs' device (attention() takes them so).
//   fgattn::built_with_cuda() -> bool   whether CUDA tensors run the kernel and the GPU predictors
//   fgattn::load_plan(str path) -> (Tensor offsets, Tensor indices, int[] sizes)   sizes = [B, H, Sq, Skv, block_m]
//   fgattn::save_plan(str path, Tensor offsets, Tensor indices, int[] sizes) -> ()  the C++ plan file format
//   fgattn::workload(int frames, int height, int width, int heads, int head_dim, int text_tokens=0, int seed=1)
//     -> (Tensor q, Tensor k, Tensor v)   the video-like generator (docs/workload.md): fp32 [1, S, H, D] on the CPU
#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>
#include <torch/library.h>

#include <cstdint>
#include <cstring>
#include <tuple>
#ifdef FGATTN_WITH_CUDA
#include <c10/cuda/CUDAStream.h>

#include <list>
#include <memory>
#include <mutex>

#include "fgattn/cuda.h"
#include "fgattn/predict_cuda.h"
#endif

#include "fgattn/attention.h"
#include "fgattn/error.h"
#include "fgattn/plan.h"
#include "fgattn/predict.h"
#include "fgattn/tensor.h"
#include "fgattn/workload.h"

namespace {

fgattn::DType to_dtype(const at::Tensor& t, const char* name) {
  switch (t.scalar_type()) {
    case at::kBFloat16: return fgattn::DType::bf16;
    case at::kHalf: return fgattn::DType::f16;
    case at::kFloat: return fgattn::DType::f32;
    default:
      TORCH_CHECK_TYPE(false, name, ": dtype ", t.scalar_type(),
                       " is not supported (bfloat16 or float16; float32 on the CPU)");
  }
  return fgattn::DType::f32;  // unreachable
}

fgattn::TensorView to_view(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.dim() == 4, name, ": must be 4-D in the logical [B, S, H, D] shape (pass a [B, H, S, D] ",
                    "tensor as t.transpose(1, 2)), got ", t.dim(), " dims with shape ", t.sizes());
  fgattn::TensorView view;
  view.data = t.numel() > 0 ? t.data_ptr() : nullptr;
  view.dtype = to_dtype(t, name);
  view.device = t.is_cuda() ? fgattn::Device::cuda : fgattn::Device::cpu;
  TORCH_CHECK_VALUE(t.is_cpu() || t.is_cuda(), name, ": must be a CPU or CUDA tensor, got device ", t.device());
  for (int i = 0; i < 4; ++i) {
    view.shape[i] = t.size(i);
    view.strides[i] = t.stride(i);
  }
  return view;
}

// The plan's CSR as an fgattn::Plan (host vectors). Sizes come from the tensors; fgattn validates the rest.
fgattn::Plan to_plan(const at::Tensor& q, const at::Tensor& k, const at::Tensor& offsets, const at::Tensor& indices,
                     int64_t block_m) {
  TORCH_CHECK_VALUE(block_m >= 1 && block_m <= (1 << 20), "plan: block_m must be in [1, 2^20], got ", block_m);
  TORCH_CHECK_TYPE(offsets.scalar_type() == at::kLong, "plan: offsets must be int64, got ", offsets.scalar_type());
  TORCH_CHECK_TYPE(indices.scalar_type() == at::kInt, "plan: indices must be int32, got ", indices.scalar_type());
  TORCH_CHECK_VALUE(offsets.dim() == 1, "plan: offsets must be 1-D, got shape ", offsets.sizes());
  TORCH_CHECK_VALUE(indices.dim() == 1, "plan: indices must be 1-D, got shape ", indices.sizes());
  fgattn::Plan plan;
  plan.batch = q.size(0);
  plan.seq_q = q.size(1);
  plan.heads = q.size(2);
  plan.seq_kv = k.size(1);
  plan.block_m = static_cast<int>(block_m);
  TORCH_CHECK_VALUE(offsets.numel() == plan.rows() + 1, "plan: offsets has ", offsets.numel(),
                    " entries, but B*H*ceil(Sq/block_m) + 1 = ", plan.rows() + 1, " for B=", plan.batch,
                    " H=", plan.heads, " Sq=", plan.seq_q, " block_m=", block_m);
  const at::Tensor off = offsets.to(at::kCPU).contiguous();
  const at::Tensor idx = indices.to(at::kCPU).contiguous();
  plan.offsets.assign(off.data_ptr<int64_t>(), off.data_ptr<int64_t>() + off.numel());
  plan.indices.assign(idx.data_ptr<int32_t>(), idx.data_ptr<int32_t>() + idx.numel());
  return plan;
}

std::tuple<at::Tensor, at::Tensor> attention_impl(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                  const at::Tensor& offsets, const at::Tensor& indices,
                                                  int64_t block_m, std::optional<double> scale, bool return_lse) {
  const fgattn::TensorView qv = to_view(q, "q"), kv = to_view(k, "k"), vv = to_view(v, "v");
  // out like q: empty_like keeps q's strides when q is dense (BSHD stays BSHD, BHSD-strided stays BHSD).
  at::Tensor out = at::empty_like(q);
  if (out.dim() == 4 && out.stride(3) != 1) out = at::empty(q.sizes(), q.options());
  at::Tensor lse = at::empty({return_lse ? q.size(0) : 0, return_lse ? q.size(2) : 0, return_lse ? q.size(1) : 0},
                             q.options().dtype(at::kFloat));
  if (!return_lse) lse = lse.view({0});
  try {
    const fgattn::Plan plan = to_plan(q, k, offsets, indices, block_m);
    fgattn::AttentionOptions options;
    options.scale = scale;
    fgattn::attention(qv, kv, vv, plan, to_view(out, "out"), return_lse ? lse.data_ptr<float>() : nullptr, options);
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, "fgattn.attention: ", e.what());
  }
  return {out, lse};
}

std::tuple<at::Tensor, at::Tensor> attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                 const at::Tensor& offsets, const at::Tensor& indices, int64_t block_m,
                                                 std::optional<double> scale, bool return_lse) {
  TORCH_CHECK_VALUE(q.is_cpu() && k.is_cpu() && v.is_cpu(), "fgattn.attention: q, k and v must all be on the CPU, got ",
                    q.device(), ", ", k.device(), ", ", v.device());
  return attention_impl(q, k, v, offsets, indices, block_m, scale, return_lse);
}

#ifdef FGATTN_WITH_CUDA
// Plan once, run many: each plan's CSR is uploaded to the device once (fgattn::DevicePlan) and reused while the
// same offsets/indices tensors (same storage, same version) come back. An entry holds its tensors, so their memory
// cannot be reused by another plan while cached; the least recently used of kMaxDevicePlans entries is dropped.
class DevicePlanCache {
 public:
  static constexpr std::size_t kMaxDevicePlans = 256;  // > layers x plans per layer of the video DiTs we target

  std::shared_ptr<const fgattn::DevicePlan> get(const at::Tensor& offsets, const at::Tensor& indices,
                                                const fgattn::Plan& sizes, c10::Device device, cudaStream_t stream) {
    const std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->offsets.is_same(offsets) && it->indices.is_same(indices) && it->offsets_version == offsets._version() &&
          it->indices_version == indices._version() && it->device == device && it->block_m == sizes.block_m &&
          it->plan->seq_q == sizes.seq_q && it->plan->seq_kv == sizes.seq_kv && it->plan->heads == sizes.heads) {
        entries_.splice(entries_.begin(), entries_, it);
        return entries_.front().plan;
      }
    }
    fgattn::Plan plan = sizes;
    const at::Tensor off = offsets.to(at::kCPU).contiguous();  // a device -> host copy only for CUDA plan tensors
    const at::Tensor idx = indices.to(at::kCPU).contiguous();
    plan.offsets.assign(off.data_ptr<int64_t>(), off.data_ptr<int64_t>() + off.numel());
    plan.indices.assign(idx.data_ptr<int32_t>(), idx.data_ptr<int32_t>() + idx.numel());
    auto uploaded = std::make_shared<const fgattn::DevicePlan>(fgattn::DevicePlan::upload(plan, stream));
    entries_.push_front({offsets, indices, offsets._version(), indices._version(), device, sizes.block_m, uploaded});
    if (entries_.size() > kMaxDevicePlans) entries_.pop_back();
    return uploaded;
  }

 private:
  struct Entry {
    at::Tensor offsets, indices;
    int64_t offsets_version, indices_version;
    c10::Device device;
    int block_m;
    std::shared_ptr<const fgattn::DevicePlan> plan;
  };
  std::mutex mutex_;
  std::list<Entry> entries_;
};
#endif

std::tuple<at::Tensor, at::Tensor> attention_cuda(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                  const at::Tensor& offsets, const at::Tensor& indices,
                                                  int64_t block_m, std::optional<double> scale, bool return_lse) {
#ifdef FGATTN_WITH_CUDA
  TORCH_CHECK_VALUE(q.is_cuda() && k.device() == q.device() && v.device() == q.device(),
                    "fgattn.attention: q, k and v must be on the same CUDA device, got ", q.device(), ", ", k.device(),
                    ", ", v.device());
  const c10::DeviceGuard guard(q.device());
  const fgattn::TensorView qv = to_view(q, "q"), kv = to_view(k, "k"), vv = to_view(v, "v");
  at::Tensor out = at::empty_like(q);
  if (out.stride(3) != 1) out = at::empty(q.sizes(), q.options());
  at::Tensor lse = at::empty({return_lse ? q.size(0) : 0, return_lse ? q.size(2) : 0, return_lse ? q.size(1) : 0},
                             q.options().dtype(at::kFloat));
  if (!return_lse) lse = lse.view({0});
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(q.device().index()).stream();
  static DevicePlanCache cache;
  try {
    fgattn::Plan sizes;  // sizes only: the CSR is read by the cache on first use
    sizes.batch = q.size(0), sizes.seq_q = q.size(1), sizes.heads = q.size(2), sizes.seq_kv = k.size(1);
    sizes.block_m = static_cast<int>(block_m);
    TORCH_CHECK_VALUE(block_m >= 1 && block_m <= (1 << 20), "plan: block_m must be in [1, 2^20], got ", block_m);
    TORCH_CHECK_TYPE(offsets.scalar_type() == at::kLong && offsets.dim() == 1, "plan: offsets must be int64 1-D");
    TORCH_CHECK_TYPE(indices.scalar_type() == at::kInt && indices.dim() == 1, "plan: indices must be int32 1-D");
    TORCH_CHECK_VALUE(offsets.numel() == sizes.rows() + 1, "plan: offsets has ", offsets.numel(),
                      " entries, but B*H*ceil(Sq/block_m) + 1 = ", sizes.rows() + 1);
    const auto plan = cache.get(offsets, indices, sizes, q.device(), stream);
    fgattn::AttentionOptions options;
    options.scale = scale;
    fgattn::attention(qv, kv, vv, *plan, to_view(out, "out"), return_lse ? lse.data_ptr<float>() : nullptr, options,
                      stream);
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, "fgattn.attention: ", e.what());
  }
  return {out, lse};
#else
  (void)k, (void)v, (void)offsets, (void)indices, (void)block_m, (void)scale, (void)return_lse;
  TORCH_CHECK(false, "fgattn.attention: q is on ", q.device(), ", but the fgattn op library was built without CUDA "
              "(configure with nvcc present and -DFGATTN_ENABLE_CUDA=ON)");
#endif
}

std::tuple<at::Tensor, at::Tensor> plan_tensors(const fgattn::Plan& plan) {
  at::Tensor off = at::empty({static_cast<int64_t>(plan.offsets.size())}, at::kLong);
  at::Tensor idx = at::empty({plan.nnz()}, at::kInt);
  std::copy(plan.offsets.begin(), plan.offsets.end(), off.data_ptr<int64_t>());
  std::copy(plan.indices.begin(), plan.indices.end(), idx.data_ptr<int32_t>());
  return {off, idx};
}

std::tuple<at::Tensor, at::Tensor> oracle_plan_cpu(const at::Tensor& q, const at::Tensor& k, int64_t block_m,
                                                   std::optional<double> tau, const std::optional<at::Tensor>& lse) {
  TORCH_CHECK_VALUE(q.is_cpu() && k.is_cpu(), "fgattn.oracle_plan: q and k must be CPU tensors");
  TORCH_CHECK_VALUE(!lse.has_value(), "fgattn.oracle_plan: lse is taken on CUDA only (the CPU oracle computes the "
                    "exact LSE itself in double; fgattn.oracle_plan(..., lse=) in Python covers the CPU)");
  try {
    fgattn::OracleOptions options;
    options.block_m = static_cast<int>(block_m);
    options.tau = tau.value_or(-1.0);
    return plan_tensors(fgattn::oracle_plan(to_view(q, "q"), to_view(k, "k"), options).plan);
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, "fgattn.oracle_plan: ", e.what());
  }
}

std::tuple<at::Tensor, at::Tensor> topcdf_plan_cpu(const at::Tensor& q, const at::Tensor& k, int64_t block_m,
                                                   int64_t pool, double tau, double sim_threshold) {
  TORCH_CHECK_VALUE(q.is_cpu() && k.is_cpu(), "fgattn.topcdf_plan: q and k must be CPU tensors");
  try {
    fgattn::TopCdfOptions options;
    options.block_m = static_cast<int>(block_m);
    options.pool = static_cast<int>(pool);
    options.tau = tau;
    options.sim_threshold = sim_threshold;
    return plan_tensors(fgattn::topcdf_plan(to_view(q, "q"), to_view(k, "k"), options).plan);
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, "fgattn.topcdf_plan: ", e.what());
  }
}

#ifdef FGATTN_WITH_CUDA
// The GPU predictors behind the plan ops. A predictor per call: its workspace (bits and the plan's index capacity,
// 4 B x rows x Skv) is cudaMalloc'd outside torch's caching allocator and freed on return, so nothing stays held
// between the rare refresh steps that call these. Runs on torch's current stream; download() waits for it.
void check_same_cuda_device(const at::Tensor& q, const at::Tensor& k, const char* op) {
  TORCH_CHECK_VALUE(q.is_cuda() && k.device() == q.device(), op, ": q and k must be on the same CUDA device, got ",
                    q.device(), ", ", k.device());
}

std::tuple<at::Tensor, at::Tensor> oracle_plan_cuda(const at::Tensor& q, const at::Tensor& k, int64_t block_m,
                                                    std::optional<double> tau, const std::optional<at::Tensor>& lse) {
  check_same_cuda_device(q, k, "fgattn.oracle_plan");
  const c10::DeviceGuard guard(q.device());
  at::Tensor lse_dense;
  if (lse.has_value()) {
    const at::Tensor& l = *lse;
    TORCH_CHECK_VALUE(l.device() == q.device(), "fgattn.oracle_plan: lse must be on q's device ", q.device(),
                      ", got ", l.device());
    TORCH_CHECK_TYPE(l.scalar_type() == at::kFloat, "fgattn.oracle_plan: lse must be float32 (attention()'s LSE), "
                     "got ", l.scalar_type());
    TORCH_CHECK_VALUE(l.dim() == 3 && l.size(0) == q.size(0) && l.size(1) == q.size(2) && l.size(2) == q.size(1),
                      "fgattn.oracle_plan: lse must have shape [B, H, Sq] = [", q.size(0), ", ", q.size(2), ", ",
                      q.size(1), "], got ", l.sizes());
    lse_dense = l.contiguous();
  }
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(q.device().index()).stream();
  try {
    fgattn::OracleOptions options;
    options.block_m = static_cast<int>(block_m);
    options.tau = tau.value_or(-1.0);
    fgattn::OraclePredictor predictor;
    if (lse.has_value()) {
      predictor.predict_from_lse(to_view(q, "q"), to_view(k, "k"), lse_dense.data_ptr<float>(), options, stream);
    } else {
      predictor.predict(to_view(q, "q"), to_view(k, "k"), options, stream);
    }
    return plan_tensors(predictor.download(stream));
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, "fgattn.oracle_plan: ", e.what());
  }
}

std::tuple<at::Tensor, at::Tensor> topcdf_plan_cuda(const at::Tensor& q, const at::Tensor& k, int64_t block_m,
                                                    int64_t pool, double tau, double sim_threshold) {
  check_same_cuda_device(q, k, "fgattn.topcdf_plan");
  const c10::DeviceGuard guard(q.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(q.device().index()).stream();
  try {
    fgattn::TopCdfOptions options;
    options.block_m = static_cast<int>(block_m);
    options.pool = static_cast<int>(pool);
    options.tau = tau;
    options.sim_threshold = sim_threshold;
    fgattn::TopCdfPredictor predictor;
    predictor.predict(to_view(q, "q"), to_view(k, "k"), options, stream);
    return plan_tensors(predictor.download(stream));
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, "fgattn.topcdf_plan: ", e.what());
  }
}
#else
[[noreturn]] void built_without_cuda(const at::Tensor& q, const char* op) {
  TORCH_CHECK(false, op, ": q is on ", q.device(), ", but the fgattn op library was built without CUDA (configure "
              "with nvcc present and -DFGATTN_ENABLE_CUDA=ON), or move q and k to the CPU");
}
std::tuple<at::Tensor, at::Tensor> oracle_plan_cuda(const at::Tensor& q, const at::Tensor&, int64_t,
                                                    std::optional<double>, const std::optional<at::Tensor>&) {
  built_without_cuda(q, "fgattn.oracle_plan");
}
std::tuple<at::Tensor, at::Tensor> topcdf_plan_cuda(const at::Tensor& q, const at::Tensor&, int64_t, int64_t, double,
                                                    double) {
  built_without_cuda(q, "fgattn.topcdf_plan");
}
#endif

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

bool built_with_cuda() {
#ifdef FGATTN_WITH_CUDA
  return true;
#else
  return false;
#endif
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

}  // namespace

TORCH_LIBRARY(fgattn, m) {
  m.def("attention(Tensor q, Tensor k, Tensor v, Tensor offsets, Tensor indices, int block_m, float? scale=None, "
        "bool return_lse=False) -> (Tensor out, Tensor lse)");
  m.def("oracle_plan(Tensor q, Tensor k, int block_m, float? tau=None, Tensor? lse=None) -> "
        "(Tensor offsets, Tensor indices)");
  m.def("topcdf_plan(Tensor q, Tensor k, int block_m, int pool, float tau, float sim_threshold) -> "
        "(Tensor offsets, Tensor indices)");
  m.def("built_with_cuda() -> bool", &built_with_cuda);
  m.def("load_plan(str path) -> (Tensor offsets, Tensor indices, int[] sizes)", &load_plan);
  m.def("save_plan(str path, Tensor offsets, Tensor indices, int[] sizes) -> ()", &save_plan);
  m.def("workload(int frames, int height, int width, int heads, int head_dim, int text_tokens=0, int seed=1) -> "
        "(Tensor q, Tensor k, Tensor v)", &workload);
}

TORCH_LIBRARY_IMPL(fgattn, CPU, m) {
  m.impl("attention", &attention_cpu);
  m.impl("oracle_plan", &oracle_plan_cpu);
  m.impl("topcdf_plan", &topcdf_plan_cpu);
}
TORCH_LIBRARY_IMPL(fgattn, CUDA, m) {
  m.impl("attention", &attention_cuda);
  m.impl("oracle_plan", &oracle_plan_cuda);
  m.impl("topcdf_plan", &topcdf_plan_cuda);
}
