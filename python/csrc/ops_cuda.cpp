// The CUDA dispatch key: the sm_90a kernel and the GPU predictors on torch's current stream (ops.h). Built without
// FGATTN_WITH_CUDA, the same functions raise a "built without CUDA" error instead.
#include <torch/library.h>

#ifdef FGATTN_WITH_CUDA
#include <c10/core/DeviceGuard.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

#include <list>
#include <memory>
#include <mutex>
#include <string_view>

#include "convert.h"
#include "fgattn/attention.h"
#include "fgattn/cuda.h"
#include "fgattn/error.h"
#include "fgattn/plan_cuda.h"
#include "fgattn/predict_cuda.h"
#include "fgattn/row_order.h"
#else
#include "convert.h"
#endif

#include "message.h"
#include "ops.h"

namespace fgattn_torch {

#ifdef FGATTN_WITH_CUDA
namespace {

// The address of t's first element even when t is empty (data_ptr() is null then): device_plan_tensors gives an
// empty indices tensor one element of storage, so that a borrowed plan never holds a null pointer.
template <class T>
T* first_element(const at::Tensor& t) {
  return static_cast<T*>(t.storage().mutable_data()) + t.storage_offset();
}

// The row schedule the op gives every plan it runs (fgattn/row_order.h), as the GPU predictors' default.
constexpr fgattn::RowOrder kRowOrder = fgattn::RowOrder::longest_first_per_head;

// The row schedule of valid CUDA CSR offsets, computed on the device by the library (schedule_rows_cuda) into an
// int32 tensor, with its workspace from torch's caching allocator (freed on `stream`'s order).
at::Tensor device_row_order(const at::Tensor& offsets, const fgattn::Plan& sizes, cudaStream_t stream) {
  const std::size_t bytes = fgattn::row_schedule_workspace_bytes(sizes, kRowOrder);
  const at::Tensor workspace = at::empty({static_cast<int64_t>(bytes)}, offsets.options().dtype(at::kByte));
  const at::Tensor order = at::empty({std::max<int64_t>(sizes.rows(), 1)}, offsets.options().dtype(at::kInt));
  fgattn::schedule_rows_cuda(offsets.data_ptr<int64_t>(), sizes, kRowOrder, order.data_ptr<int32_t>(),
                             workspace.data_ptr(), bytes, stream);
  return order;
}

// Plan once, run many. An entry is found by the identity and version of the plan's offsets and indices tensors:
//  - uploaded: a plan given as CPU tensors (or CUDA tensors that cannot be borrowed) is checked and copied to the
//    device once (fgattn::DevicePlan::upload). The entry holds the tensors, so their memory cannot be reused by
//    another plan while cached, and owns the device copy. Least recently used entries are dropped beyond
//    kMaxDevicePlans or beyond a device-memory budget (set_plan_cache_budget): per-layer M x 1 plans of a large
//    model at 720p take GBs each (python/README.md, "Plan memory"); a dropped plan is uploaded again when it comes
//    back.
//  - borrowed: a plan already in CUDA tensors on q's device, run as it is through a view and its row order: a GPU
//    predictor's (device_plan_tensors; valid by construction), or any other once checked on the device. The entry
//    refers to the tensors weakly: it holds no plan memory (so no budget applies), and when the caller drops the
//    plan its memory goes back to torch and the entry goes at the next lookup.
class DevicePlanCache {
 public:
  static constexpr std::size_t kMaxDevicePlans = 256;  // > layers x plans per layer of the video DiTs we target

  std::shared_ptr<const fgattn::DevicePlan> get(const at::Tensor& offsets, const at::Tensor& indices,
                                                const fgattn::Plan& sizes, c10::Device device, cudaStream_t stream) {
    const std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->expired()) {
        held_ -= it->bytes;
        it = entries_.erase(it);
        continue;
      }
      if (it->holds(offsets, indices) && it->device == device && it->plan->block_m == sizes.block_m &&
          it->plan->seq_q == sizes.seq_q && it->plan->seq_kv == sizes.seq_kv && it->plan->heads == sizes.heads) {
        entries_.splice(entries_.begin(), entries_, it);
        return entries_.front().plan;
      }
      ++it;
    }
    // CUDA tensors this cache has not seen (a plan built on the GPU by the caller, or changed in place): checked and
    // ordered on the device (the library's validate_csr_cuda names a broken row), then run where they are.
    if (offsets.device() == device && indices.device() == device && offsets.is_contiguous() &&
        indices.is_contiguous() && indices.numel() > 0) {
      fgattn::validate_csr_cuda(sizes, offsets.data_ptr<int64_t>(), offsets.numel(), indices.data_ptr<int32_t>(),
                                indices.numel(), stream);
      insert_borrowed(offsets, indices, device_row_order(offsets, sizes, stream), sizes);
      return entries_.front().plan;
    }
    // CPU tensors (or CUDA tensors that cannot be borrowed): checked and uploaded from the host (CUDA tensors are
    // copied there first), after making room.
    const std::size_t bytes = device_bytes(sizes.rows(), indices.numel());
    make_room(bytes);
    auto uploaded = std::make_shared<const fgattn::DevicePlan>(
        fgattn::DevicePlan::upload(with_csr(sizes, offsets, indices), stream, kRowOrder));
    entries_.push_front(Entry::make(offsets, indices, at::Tensor(), device, std::move(uploaded), bytes));
    held_ += bytes;
    return entries_.front().plan;
  }

  // A plan a GPU predictor made, as CUDA tensors (offsets, indices) with `order`, its row schedule (row_order.h):
  // attention() runs it without a host round trip or a check (a predictor's plans are valid by construction).
  void put(const at::Tensor& offsets, const at::Tensor& indices, const at::Tensor& order, const fgattn::Plan& sizes) {
    const std::lock_guard<std::mutex> lock(mutex_);
    insert_borrowed(offsets, indices, order, sizes);
  }

  // The device-memory budget of uploaded plans: `bytes`, or 0 for a quarter of the device's memory. Least recently
  // used plans beyond it are dropped now.
  void set_budget(std::size_t bytes) {
    const std::lock_guard<std::mutex> lock(mutex_);
    budget_ = bytes;
    make_room(0);
  }

 private:
  using WeakTensor = c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>;

  struct Entry {
    WeakTensor offsets_ref, indices_ref;  // identity (both kinds) and lifetime (borrowed)
    at::Tensor offsets, indices;          // uploaded: held; borrowed: undefined
    at::Tensor order;                     // borrowed: the view's row order; uploaded: undefined (the copy owns it)
    int64_t offsets_version, indices_version;
    c10::Device device;
    std::shared_ptr<const fgattn::DevicePlan> plan;
    std::size_t bytes;  // device memory the entry owns

    static Entry make(const at::Tensor& offsets, const at::Tensor& indices, const at::Tensor& order,
                      c10::Device device, std::shared_ptr<const fgattn::DevicePlan> plan, std::size_t bytes) {
      const bool borrowed = order.defined();
      return {WeakTensor(offsets.getIntrusivePtr()), WeakTensor(indices.getIntrusivePtr()),
              borrowed ? at::Tensor() : offsets, borrowed ? at::Tensor() : indices, order, offsets._version(),
              indices._version(), device, std::move(plan), bytes};
    }
    bool expired() const { return offsets_ref.expired() || indices_ref.expired(); }
    bool holds(const at::Tensor& o, const at::Tensor& i) const {
      return offsets_ref._unsafe_get_target() == o.unsafeGetTensorImpl() &&
             indices_ref._unsafe_get_target() == i.unsafeGetTensorImpl() && offsets_version == o._version() &&
             indices_version == i._version();
    }
  };

  // With the mutex held: a view of valid CUDA CSR tensors, with their row order, as the most recent entry.
  void insert_borrowed(const at::Tensor& offsets, const at::Tensor& indices, const at::Tensor& order,
                       const fgattn::Plan& sizes) {
    auto view = std::make_shared<const fgattn::DevicePlan>(fgattn::DevicePlan::borrow(
        sizes.batch, sizes.heads, sizes.seq_q, sizes.seq_kv, sizes.block_m, indices.numel(),
        offsets.data_ptr<int64_t>(), first_element<int32_t>(indices), order.data_ptr<int32_t>()));
    make_room(0);
    entries_.push_front(Entry::make(offsets, indices, order, offsets.device(), std::move(view), 0));
  }

  // With the mutex held: drops least recently used entries until one more entry of `bytes` fits.
  void make_room(std::size_t bytes) {
    const std::size_t budget = budget_ != 0 ? budget_ : default_budget_bytes();
    while (!entries_.empty() && (entries_.size() >= kMaxDevicePlans || held_ + bytes > budget)) drop_oldest();
  }

  // A DevicePlan's device memory: offsets (int64, rows + 1), indices (int32, nnz), order (int32, rows).
  static std::size_t device_bytes(int64_t rows, int64_t nnz) {
    return static_cast<std::size_t>(rows + 1) * 8 + static_cast<std::size_t>(nnz) * 4 +
           static_cast<std::size_t>(rows) * 4;
  }

  // The budget unless set_plan_cache_budget chose one: a quarter of the current device's memory.
  static std::size_t default_budget_bytes() {
    std::size_t free = 0, total = 0;
    TORCH_CHECK(cudaMemGetInfo(&free, &total) == cudaSuccess, "fgattn.attention: cudaMemGetInfo failed");
    return total / 4;
  }

  void drop_oldest() {
    held_ -= entries_.back().bytes;
    entries_.pop_back();
  }

  std::mutex mutex_;
  std::list<Entry> entries_;
  std::size_t held_ = 0, budget_ = 0;  // budget_ 0: default_budget_bytes()
};

DevicePlanCache& plan_cache() {
  static auto* cache = new DevicePlanCache;  // never destroyed: it holds tensors, and exit order is not ours to pick
  return *cache;
}

// A GPU predictor's finished plan as CUDA tensors on q's device: offsets int64 [rows + 1] and indices int32 [nnz],
// copied on `stream` out of the predictor's workspace (freed with the predictor), and registered with the plan cache
// together with the predictor's row order, so that attention() runs it as it is. The plan never visits the host:
// with the download and the upload, a refresh took ~1 s per Wan 480p layer at full density (10^8 keys).
PlanTensors device_plan_tensors(const fgattn::DevicePlan& plan, const at::Tensor& q, cudaStream_t stream) {
  const at::TensorOptions options = q.options();
  const at::Tensor offsets = at::empty({plan.rows + 1}, options.dtype(at::kLong));
  // At least one element of storage each, so that the borrowed plan never holds a null pointer (first_element).
  const at::Tensor indices =
      at::empty({std::max<int64_t>(plan.nnz, 1)}, options.dtype(at::kInt)).narrow(0, 0, plan.nnz);
  const at::Tensor order = at::empty({std::max<int64_t>(plan.rows, 1)}, options.dtype(at::kInt));
  const auto copy = [&](void* dst, const void* src, std::size_t bytes) {
    if (bytes > 0) C10_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
  };
  copy(offsets.data_ptr(), plan.offsets, static_cast<std::size_t>(plan.rows + 1) * sizeof(int64_t));
  copy(indices.data_ptr(), plan.indices, static_cast<std::size_t>(plan.nnz) * sizeof(int32_t));
  copy(order.data_ptr(), plan.order, static_cast<std::size_t>(plan.rows) * sizeof(int32_t));
  plan_cache().put(offsets, indices, order,
                   fgattn::plan_with_sizes(plan.batch, plan.heads, plan.seq_q, plan.seq_kv, plan.block_m));
  return {offsets, indices};
}

// The library allocates plans and predictor workspaces with cudaMalloc, beside torch's caching allocator, which in a
// pipeline may hold most of the free memory in cached blocks. On "out of memory", hand those blocks back to the
// driver and try once more (fgattn's check_cuda has cleared the failed call's error, so the retry's checks start
// clean).
template <class Work>
auto retry_after_emptying_torch_cache(Work&& work) {
  try {
    return work();
  } catch (const fgattn::Error& e) {
    if (std::string_view(e.what()).find("out of memory") == std::string_view::npos) throw;
    c10::cuda::CUDACachingAllocator::emptyCache();
    return work();
  }
}

cudaStream_t current_stream(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}

void check_same_cuda_device(const at::Tensor& q, const at::Tensor& k, const char* op) {
  TORCH_CHECK_VALUE(q.is_cuda() && k.device() == q.device(),
                    message(op, ": q and k must be on the same CUDA device, got ", q.device(), ", ", k.device()));
}

// attention()'s LSE for q as the oracle takes it: fp32 [B, H, Sq] on q's device, contiguous.
at::Tensor checked_lse(const at::Tensor& lse, const at::Tensor& q) {
  TORCH_CHECK_VALUE(lse.device() == q.device(),
                    message("fgattn.oracle_plan: lse must be on q's device ", q.device(), ", got ", lse.device()));
  TORCH_CHECK_TYPE(lse.scalar_type() == at::kFloat,
                   message("fgattn.oracle_plan: lse must be float32 (attention()'s LSE), got ", lse.scalar_type()));
  TORCH_CHECK_VALUE(lse.dim() == 3 && lse.size(0) == q.size(0) && lse.size(1) == q.size(2) && lse.size(2) == q.size(1),
                    message("fgattn.oracle_plan: lse must have shape [B, H, Sq] = [", q.size(0), ", ", q.size(2), ", ",
                            q.size(1), "], got ", lse.sizes()));
  return lse.contiguous();
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> attention_cuda(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                  const at::Tensor& offsets, const at::Tensor& indices,
                                                  int64_t block_m, std::optional<double> scale, bool return_lse) {
  TORCH_CHECK_VALUE(q.is_cuda() && k.device() == q.device() && v.device() == q.device(),
                    message("fgattn.attention: q, k and v must be on the same CUDA device, got ", q.device(), ", ",
                            k.device(), ", ", v.device()));
  const c10::DeviceGuard guard(q.device());
  const fgattn::TensorView qv = to_view(q, "q"), kv = to_view(k, "k"), vv = to_view(v, "v");
  auto [out, lse] = empty_out_and_lse(q, return_lse);
  const cudaStream_t stream = current_stream(q);
  // The sizes only: the cache reads the CSR on a miss.
  const fgattn::Plan sizes = plan_sizes(q, k, offsets, indices, block_m);
  try {
    const auto plan =
        retry_after_emptying_torch_cache([&] { return plan_cache().get(offsets, indices, sizes, q.device(), stream); });
    fgattn::AttentionOptions options;
    options.scale = scale;
    fgattn::attention(qv, kv, vv, *plan, to_view(out, "out"), return_lse ? lse.data_ptr<float>() : nullptr, options,
                      stream);
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, message("fgattn.attention: ", e.what()));
  }
  return {out, lse};
}

// The GPU predictors behind the plan ops. A predictor per call: its workspace (bits and the plan's index capacity,
// 4 B x rows x Skv) is cudaMalloc'd outside torch's caching allocator and freed on return, so nothing stays held
// between the rare refresh steps that call these. finish() waits for torch's current stream (for the key count).
PlanTensors oracle_plan_cuda(const at::Tensor& q, const at::Tensor& k, int64_t block_m, std::optional<double> tau,
                             const std::optional<at::Tensor>& lse) {
  check_same_cuda_device(q, k, "fgattn.oracle_plan");
  const c10::DeviceGuard guard(q.device());
  const at::Tensor lse_dense = lse.has_value() ? checked_lse(*lse, q) : at::Tensor();
  const cudaStream_t stream = current_stream(q);
  try {
    fgattn::OracleOptions options = oracle_options(block_m, tau);
    options.row_order = kRowOrder;
    return retry_after_emptying_torch_cache([&] {
      fgattn::OraclePredictor predictor;
      if (lse_dense.defined()) {
        predictor.predict_from_lse(to_view(q, "q"), to_view(k, "k"), lse_dense.data_ptr<float>(), options, stream);
      } else {
        predictor.predict(to_view(q, "q"), to_view(k, "k"), options, stream);
      }
      return device_plan_tensors(predictor.finish(stream), q, stream);
    });
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, message("fgattn.oracle_plan: ", e.what()));
  }
}

PlanTensors topcdf_plan_cuda(const at::Tensor& q, const at::Tensor& k, int64_t block_m, int64_t pool, double tau,
                             double sim_threshold) {
  check_same_cuda_device(q, k, "fgattn.topcdf_plan");
  const c10::DeviceGuard guard(q.device());
  const cudaStream_t stream = current_stream(q);
  try {
    fgattn::TopCdfOptions options = topcdf_options(block_m, pool, tau, sim_threshold);
    options.row_order = kRowOrder;
    return retry_after_emptying_torch_cache([&] {
      fgattn::TopCdfPredictor predictor;
      predictor.predict(to_view(q, "q"), to_view(k, "k"), options, stream);
      return device_plan_tensors(predictor.finish(stream), q, stream);
    });
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, message("fgattn.topcdf_plan: ", e.what()));
  }
}

bool built_with_cuda() { return true; }

void set_device_plan_budget(std::size_t bytes) { plan_cache().set_budget(bytes); }

void validate_plan_on_device(const fgattn::Plan& sizes, const at::Tensor& offsets, const at::Tensor& indices) {
  const c10::DeviceGuard guard(offsets.device());
  const at::Tensor off = offsets.contiguous(), idx = indices.contiguous();
  const int32_t* keys = idx.numel() > 0 ? idx.data_ptr<int32_t>() : nullptr;
  fgattn::validate_csr_cuda(sizes, off.data_ptr<int64_t>(), off.numel(), keys, idx.numel(), current_stream(off));
}

#else  // without CUDA: CUDA tensors get a clear error

namespace {
[[noreturn]] void built_without_cuda(const at::Tensor& q, const char* op) {
  TORCH_CHECK(false, message(op, ": q is on ", q.device(),
                             ", but the fgattn op library was built without CUDA (configure "
                             "with nvcc present and -DFGATTN_ENABLE_CUDA=ON), or move the tensors to the CPU"));
}
}  // namespace

std::tuple<at::Tensor, at::Tensor> attention_cuda(const at::Tensor& q, const at::Tensor&, const at::Tensor&,
                                                  const at::Tensor&, const at::Tensor&, int64_t,
                                                  std::optional<double>, bool) {
  built_without_cuda(q, "fgattn.attention");
}
PlanTensors oracle_plan_cuda(const at::Tensor& q, const at::Tensor&, int64_t, std::optional<double>,
                             const std::optional<at::Tensor>&) {
  built_without_cuda(q, "fgattn.oracle_plan");
}
PlanTensors topcdf_plan_cuda(const at::Tensor& q, const at::Tensor&, int64_t, int64_t, double, double) {
  built_without_cuda(q, "fgattn.topcdf_plan");
}
bool built_with_cuda() { return false; }

void set_device_plan_budget(std::size_t) {}  // no device plans to keep

void validate_plan_on_device(const fgattn::Plan& sizes, const at::Tensor& offsets, const at::Tensor& indices) {
  validate_plan_on_host(sizes, offsets, indices);  // a torch with CUDA, an op library without: checked on the host
}

#endif

}  // namespace fgattn_torch
