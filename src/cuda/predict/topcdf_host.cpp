// Host side of the GPU Top-CDF: pool Q and K, select key pools per query pool, compact into a Plan.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <cmath>

#include "cuda/predict/predict_host.h"
#include "cuda/predict/topcdf_params.h"
#include "fgattn/error.h"
#include "fgattn/predict_cuda.h"

namespace fgattn {
namespace {

struct Pooled {
  cuda::DeviceBuffer<float> means;
  cuda::DeviceBuffer<std::uint8_t> similar;
};

Pooled pool(const TensorView& x, int pool_size, double sim_threshold) {
  const std::int64_t pools = x.batch() * x.heads() * ((x.seq() + pool_size - 1) / pool_size);
  Pooled out{cuda::device_alloc<float>(static_cast<std::size_t>(pools * x.head_dim()), "pool"),
             cuda::device_alloc<std::uint8_t>(static_cast<std::size_t>(pools), "pool")};
  cuda::PoolParams p;
  p.x = x.data;
  for (int i = 0; i < 3; ++i) p.stride[i] = x.strides[i];
  p.batch = static_cast<int>(x.batch());
  p.heads = static_cast<int>(x.heads());
  p.seq = static_cast<int>(x.seq());
  p.head_dim = static_cast<int>(x.head_dim());
  p.pool = pool_size;
  p.element = cuda::element_type(x);
  p.sim_threshold = static_cast<float>(sim_threshold);
  p.means = out.means.get();
  p.similar = out.similar.get();
  cuda::check_cuda(cuda::launch_pool_tokens(p, nullptr), "pool_tokens");
  return out;
}

}  // namespace

Prediction topcdf_plan_cuda(const TensorView& q, const TensorView& k, const TopCdfOptions& o) {
  using namespace fgattn::cuda;
  check_predictor_operands(q, k);
  check_block_m(o.block_m);
  if (o.pool < 1 || o.block_m % o.pool != 0)
    throw Error("pool", fmt::format("{} must divide block_m = {} on the GPU", o.pool, o.block_m));
  if (!(o.tau >= 0 && o.tau <= 1)) throw Error("tau", fmt::format("must be in [0, 1], got {}", o.tau));
  if (o.block_m / o.pool > 16) throw Error("pool", fmt::format("block_m / pool = {} exceeds 16 on the GPU", o.block_m / o.pool));
  constexpr std::size_t kSharedMemoryLimit = 227 * 1024;  // per CTA on sm_90
  if (topcdf_smem_bytes(o.block_m, o.pool, static_cast<int>(k.seq())) > kSharedMemoryLimit)
    throw Error("k", fmt::format("{} keys in pools of {} need more shared memory than one CTA has; use a larger pool",
                                 k.seq(), o.pool));

  Plan plan = plan_with_sizes(q.batch(), q.heads(), q.seq(), k.seq(), o.block_m);
  const std::int64_t words = (plan.seq_kv + 63) / 64;
  auto bits = device_alloc<std::uint64_t>(static_cast<std::size_t>(plan.rows() * words), "bits");
  GpuTimer timer;
  const Pooled qp = pool(q, o.pool, o.sim_threshold), kp = pool(k, o.pool, o.sim_threshold);
  TopCdfBitsParams p;
  p.q_means = qp.means.get();
  p.q_similar = qp.similar.get();
  p.k_means = kp.means.get();
  p.k_similar = kp.similar.get();
  p.batch_heads = static_cast<int>(q.batch() * q.heads());
  p.seq_q = static_cast<int>(q.seq());
  p.seq_kv = static_cast<int>(k.seq());
  p.head_dim = static_cast<int>(q.head_dim());
  p.pool = o.pool;
  p.block_m = o.block_m;
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(q.head_dim())));
  p.tau = static_cast<float>(o.tau);
  p.bits = bits.get();
  check_cuda(launch_topcdf_bits(p, nullptr), "topcdf_bits");
  bits_to_host_plan(bits.get(), 1, plan, timer);
  const double seconds = timer.seconds();

  Prediction prediction{std::move(plan), {"topcdf", fmt::format("Mx{}", o.pool), o.tau, 0.0, seconds}};
  prediction.report.density = prediction.plan.density();
  return prediction;
}

}  // namespace fgattn
