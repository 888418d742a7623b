// Host side of the GPU Top-CDF: argument checks, the reusable workspace, and the four passes on one stream
// (topcdf_params.h). A warm predict() allocates nothing and never waits for the device: ~7 launches
// (pool_means, pooled_logits + topcdf_cut per head chunk, CUB scan, pools_to_plan, row counts + CUB sort).
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <utility>
#include <vector>

#include "cuda/predict/device_workspace.h"
#include "cuda/predict/predict_host.h"
#include "cuda/predict/topcdf_params.h"
#include "fgattn/cuda_timing.h"
#include "fgattn/error.h"
#include "fgattn/predict_cuda.h"

namespace fgattn {
namespace {

using cuda::check_cuda;

constexpr std::size_t kMaxLogitBytes = std::size_t{512} << 20;  // pooled logits held at once (heads are chunked)

void check_topcdf_arguments(const TensorView& q, const TensorView& k, const TopCdfOptions& o) {
  cuda::check_predictor_operands(q, k);
  cuda::check_block_m(o.block_m);
  if (o.pool < 1 || o.block_m % o.pool != 0)
    throw Error("pool", fmt::format("{} must divide block_m = {} on the GPU", o.pool, o.block_m));
  if (o.block_m / o.pool > 16) throw Error("pool", fmt::format("block_m / pool = {} exceeds 16 on the GPU", o.block_m / o.pool));
  if (!(o.tau >= 0 && o.tau <= 1)) throw Error("tau", fmt::format("must be in [0, 1], got {}", o.tau));
  if (!std::isfinite(o.sim_threshold)) throw Error("sim_threshold", "must be finite");
  if (!(o.outlier_ratio > 0)) throw Error("outlier_ratio", fmt::format("must be > 0 (infinity: no outlier guard), got {}", o.outlier_ratio));
  const std::int64_t k_pools = (k.seq() + o.pool - 1) / o.pool;
  if (k_pools > cuda::kMaxKeyPools)
    throw Error("k", fmt::format("{} keys in pools of {} are {} key pools; the GPU cut holds at most {}: use a larger pool",
                                 k.seq(), o.pool, k_pools, cuda::kMaxKeyPools));
  if (q.seq() >= (std::int64_t{1} << 31) || k.seq() >= (std::int64_t{1} << 31))
    throw Error("q", "sequence lengths must be below 2^31 on the GPU");
}

}  // namespace

struct TopCdfPredictor::Impl {
  cuda::Scratch q_hi, q_lo, k_hi, k_lo, q_similar, k_similar, logits, pool_bits;
  cuda::PlanStorage out;
  cuda::PlanFinish finish;
};

TopCdfPredictor::TopCdfPredictor() : impl_(std::make_unique<Impl>()) {}
TopCdfPredictor::~TopCdfPredictor() = default;
TopCdfPredictor::TopCdfPredictor(TopCdfPredictor&&) noexcept = default;
TopCdfPredictor& TopCdfPredictor::operator=(TopCdfPredictor&&) noexcept = default;

const DevicePlan& TopCdfPredictor::plan() const { return impl_->out.plan; }

std::size_t TopCdfPredictor::workspace_bytes() const {
  const Impl& w = *impl_;
  std::size_t bytes = 0;
  for (const cuda::Scratch* s : {&w.q_hi, &w.q_lo, &w.k_hi, &w.k_lo, &w.q_similar, &w.k_similar, &w.logits, &w.pool_bits})
    bytes += s->bytes();
  return bytes + w.out.bytes() + w.finish.bytes();
}

const DevicePlan& TopCdfPredictor::predict(const TensorView& q, const TensorView& k, const TopCdfOptions& o,
                                           cudaStream_t stream) {
  using namespace fgattn::cuda;
  check_topcdf_arguments(q, k, o);
  Impl& w = *impl_;
  const Plan sizes = plan_with_sizes(q.batch(), q.heads(), q.seq(), k.seq(), o.block_m);  // checks the sizes
  const int bh = static_cast<int>(q.batch() * q.heads()), D = static_cast<int>(q.head_dim());
  const int q_pools = static_cast<int>((q.seq() + o.pool - 1) / o.pool), k_pools = static_cast<int>((k.seq() + o.pool - 1) / o.pool);
  const std::int64_t rows = sizes.rows(), stride = (k_pools + kLogitColumnAlign - 1) / kLogitColumnAlign * kLogitColumnAlign;
  const int pool_words = (k_pools + 31) / 32;
  const std::int64_t logits_per_head = static_cast<std::int64_t>(q_pools) * stride;
  const int heads_per_chunk = static_cast<int>(std::clamp<std::int64_t>(
      static_cast<std::int64_t>(kMaxLogitBytes / sizeof(float)) / logits_per_head, 1, std::min(bh, 65535)));

  // Workspace (allocates only when this shape needs more than any earlier one).
  PoolMeansParams pm;
  pm.q = {q.data, {q.strides[0], q.strides[1], q.strides[2]}, static_cast<int>(q.seq()),
          w.q_hi.get<std::uint16_t>(static_cast<std::size_t>(bh) * q_pools * D, "topcdf workspace"),
          w.q_lo.get<std::uint16_t>(static_cast<std::size_t>(bh) * q_pools * D, "topcdf workspace"),
          w.q_similar.get<std::uint8_t>(static_cast<std::size_t>(bh) * q_pools, "topcdf workspace")};
  pm.k = {k.data, {k.strides[0], k.strides[1], k.strides[2]}, static_cast<int>(k.seq()),
          w.k_hi.get<std::uint16_t>(static_cast<std::size_t>(bh) * k_pools * D, "topcdf workspace"),
          w.k_lo.get<std::uint16_t>(static_cast<std::size_t>(bh) * k_pools * D, "topcdf workspace"),
          w.k_similar.get<std::uint8_t>(static_cast<std::size_t>(bh) * k_pools, "topcdf workspace")};
  pm.batch = static_cast<int>(q.batch());
  pm.heads = static_cast<int>(q.heads());
  pm.head_dim = D;
  pm.pool = o.pool;
  pm.element = element_type(q);
  pm.sim_threshold = static_cast<float>(o.sim_threshold);
  pm.outlier_ratio = static_cast<float>(o.outlier_ratio);
  float* logits = w.logits.get<float>(static_cast<std::size_t>(logits_per_head) * heads_per_chunk, "topcdf workspace");
  auto* pool_bits = w.pool_bits.get<std::uint32_t>(static_cast<std::size_t>(rows) * pool_words, "topcdf workspace");
  w.out.prepare(sizes);
  w.finish.prepare(sizes, o.row_order, stream);
  DevicePlan& plan = w.out.plan;

  // 1. Pooled means of Q and K.
  check_cuda(launch_pool_means(pm, stream), "topcdf pool_means");
  // 2-3. Pooled logits and the cut, a chunk of heads at a time.
  const float scale_log2 = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)) * 1.4426950408889634);
  for (int begin = 0; begin < bh; begin += heads_per_chunk) {
    const int count = std::min(heads_per_chunk, bh - begin);
    PooledLogitsParams lp;
    lp.q_hi = pm.q.hi, lp.q_lo = pm.q.lo, lp.k_hi = pm.k.hi, lp.k_lo = pm.k.lo;
    lp.q_pools = q_pools, lp.k_pools = k_pools, lp.head_dim = D;
    lp.bh_begin = begin, lp.bh_count = count;
    lp.scale_log2 = scale_log2;
    lp.logits = logits, lp.logit_stride = stride;
    check_cuda(launch_pooled_logits(lp, stream), "topcdf pooled_logits");
    TopCdfCutParams cp;
    cp.logits = logits, cp.logit_stride = stride;
    cp.q_similar = pm.q.similar, cp.k_similar = pm.k.similar;
    cp.bh_begin = begin, cp.bh_count = count;
    cp.seq_q = static_cast<int>(q.seq()), cp.seq_kv = static_cast<int>(k.seq());
    cp.pool = o.pool, cp.block_m = o.block_m, cp.q_pools = q_pools, cp.k_pools = k_pools;
    cp.tau = static_cast<float>(o.tau);
    cp.pool_bits = pool_bits, cp.pool_words = pool_words;
    cp.offsets = plan.offsets;
    check_cuda(launch_topcdf_cut(cp, stream), "topcdf cut");
  }
  // 4. Offsets, keys, longest-first order.
  w.finish.scan_counts(plan, stream);
  PoolsToPlanParams fp;
  fp.pool_bits = pool_bits, fp.pool_words = pool_words, fp.k_pools = k_pools, fp.pool = o.pool;
  fp.seq_kv = static_cast<int>(k.seq()), fp.rows = rows, fp.offsets = plan.offsets, fp.indices = plan.indices;
  check_cuda(launch_pools_to_plan(fp, stream), "topcdf pools_to_plan");
  w.finish.schedule_rows(plan, stream);
  return plan;
}

const DevicePlan& TopCdfPredictor::finish(cudaStream_t stream) {
  cuda::finish_plan(impl_->out.plan, stream);
  return impl_->out.plan;
}

Plan TopCdfPredictor::download(cudaStream_t stream) { return cuda::download_plan(finish(stream), stream); }

Prediction topcdf_plan_cuda(const TensorView& q, const TensorView& k, const TopCdfOptions& o) {
  return cuda::predict_on_host<TopCdfPredictor>(q, k, o, [&](const TopCdfPredictor&) {
    return PredictorReport{"topcdf", fmt::format("Mx{}", o.pool), o.tau, 0.0, 0.0};
  });
}

}  // namespace fgattn
