// Host side of the GPU oracle: argument checks, scratch buffers, the three passes and the plan's copy to the host.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <cmath>
#include <memory>

#include "cuda/predict/oracle_params.h"
#include "fgattn/error.h"
#include "fgattn/predict_cuda.h"

namespace fgattn {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(what, fmt::format("CUDA error: {}", cudaGetErrorString(e)));
}

struct DeviceFree {
  void operator()(void* p) const { cudaFree(p); }
};
template <typename T>
using DeviceBuffer = std::unique_ptr<T, DeviceFree>;

template <typename T>
DeviceBuffer<T> device_alloc(std::size_t count, const char* what) {
  void* p = nullptr;
  check(cudaMalloc(&p, std::max<std::size_t>(count, 1) * sizeof(T)), what);
  return DeviceBuffer<T>(static_cast<T*>(p));
}

void check_operand(const TensorView& t, const char* name) {
  if (t.device != Device::cuda) throw Error(name, "must be a CUDA tensor for the GPU predictor");
  if (t.dtype != DType::bf16 && t.dtype != DType::f16)
    throw Error(name, fmt::format("dtype {} is not supported on the GPU; supported: bf16, f16", dtype_name(t.dtype)));
  if (t.head_dim() != 64 && t.head_dim() != 128)
    throw Error(name, fmt::format("head dim {} is not supported; built: 64, 128", t.head_dim()));
  if (t.strides[3] != 1) throw Error(name, "the head dimension must be contiguous (stride 1)");
  if (reinterpret_cast<std::uintptr_t>(t.data) % 16 != 0) throw Error(name, "data must be 16-byte aligned");
  for (int i = 0; i < 3; ++i)
    if (t.strides[i] % 8 != 0) throw Error(name, fmt::format("stride {} of dim {} must be a multiple of 8 elements (16 bytes)", t.strides[i], i));
  if (t.seq() > (1 << 30)) throw Error(name, "sequence longer than 2^30 tokens");
}

cuda::QkParams qk_params(const TensorView& q, const TensorView& k) {
  cuda::QkParams p;
  p.q = q.data;
  p.k = k.data;
  for (int i = 0; i < 3; ++i) {
    p.q_stride[i] = q.strides[i];
    p.k_stride[i] = k.strides[i];
  }
  p.batch = static_cast<int>(q.batch());
  p.heads = static_cast<int>(q.heads());
  p.seq_q = static_cast<int>(q.seq());
  p.seq_kv = static_cast<int>(k.seq());
  p.head_dim = static_cast<int>(q.head_dim());
  p.scale_log2 = static_cast<float>(1.0 / std::sqrt(static_cast<double>(q.head_dim())) * M_LOG2E);
  p.element = q.dtype == DType::bf16 ? cuda::ElementType::bf16 : cuda::ElementType::f16;
  return p;
}

}  // namespace

Prediction oracle_plan_cuda(const TensorView& q, const TensorView& k, const OracleOptions& options) {
  check_operand(q, "q");
  check_operand(k, "k");
  if (k.dtype != q.dtype) throw Error("k", "dtype must equal q's");
  if (k.batch() != q.batch() || k.heads() != q.heads() || k.head_dim() != q.head_dim())
    throw Error("k", fmt::format("shape {} must be [B, Skv, H, D] with B, H, D of q {}", shape_string(k.shape), shape_string(q.shape)));
  if (options.block_m != 64 && options.block_m != 128)
    throw Error("block_m", fmt::format("{} is not supported on the GPU; built: 64, 128", options.block_m));
  const int n = options.block_n;
  if (!(n >= 1 && ((n <= 64 && 64 % n == 0) || n % 64 == 0)))
    throw Error("block_n", fmt::format("{} must divide 64 or be a multiple of 64", n));

  Plan plan;
  plan.batch = q.batch();
  plan.heads = q.heads();
  plan.seq_q = q.seq();
  plan.seq_kv = k.seq();
  plan.block_m = options.block_m;
  const std::int64_t rows = plan.rows(), words = (plan.seq_kv + 63) / 64;
  const double tau = options.tau >= 0 ? options.tau : 0.5 / static_cast<double>(plan.seq_kv);

  auto lse2 = device_alloc<float>(static_cast<std::size_t>(q.batch() * q.heads() * q.seq()), "lse");
  auto bits = device_alloc<std::uint64_t>(static_cast<std::size_t>(rows * words), "bits");
  auto offsets = device_alloc<std::int64_t>(static_cast<std::size_t>(rows + 1), "offsets");
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "event");
  check(cudaEventCreate(&stop), "event");
  check(cudaEventRecord(start), "event");

  const cuda::QkParams qk = qk_params(q, k);
  check(cuda::launch_row_lse({qk, lse2.get()}, nullptr), "row_lse");
  cuda::OracleBitsParams bp{qk, lse2.get(), static_cast<float>(tau), options.block_m, bits.get()};
  check(cuda::launch_oracle_bits(bp, nullptr), "oracle_bits");
  cuda::BitsToPlanParams pp;
  pp.bits = bits.get();
  pp.rows = rows;
  pp.seq_kv = static_cast<int>(plan.seq_kv);
  pp.block_n = n;
  pp.offsets = offsets.get();
  check(cuda::launch_plan_counts(pp, nullptr), "plan_counts");
  check(cuda::scan_plan_offsets(offsets.get(), rows, nullptr), "scan");
  std::int64_t nnz = 0;
  check(cudaMemcpy(&nnz, offsets.get() + rows, sizeof nnz, cudaMemcpyDeviceToHost), "offsets");
  auto indices = device_alloc<std::int32_t>(static_cast<std::size_t>(nnz), "indices");
  pp.indices = indices.get();
  check(cuda::launch_plan_fill(pp, nullptr), "plan_fill");
  check(cudaEventRecord(stop), "event");
  check(cudaEventSynchronize(stop), "oracle");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, start, stop), "event");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);

  plan.offsets.resize(static_cast<std::size_t>(rows + 1));
  plan.indices.resize(static_cast<std::size_t>(nnz));
  check(cudaMemcpy(plan.offsets.data(), offsets.get(), plan.offsets.size() * sizeof(std::int64_t), cudaMemcpyDeviceToHost), "offsets");
  check(cudaMemcpy(plan.indices.data(), indices.get(), plan.indices.size() * sizeof(std::int32_t), cudaMemcpyDeviceToHost), "indices");
  validate(plan);
  const std::string granularity = n == 1 ? "Mx1" : n == options.block_m ? "MxM" : fmt::format("Mx{}", n);
  return {std::move(plan), {"oracle", granularity, tau, 0.0, ms / 1e3}};
}

}  // namespace fgattn
