// Host side of the GPU oracle: argument checks, the reusable workspace and the passes on one stream — row LSE and
// oracle bits (both the sm_90a attention kernel's S-only mode, consumer_scores.cuh), counts, CUB scan, fill, row
// schedule (schedule_rows_cuda). A warm predict() allocates nothing and never waits for the
// device; oracle_plan_cuda runs one shared predictor and copies the plan to the host.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "cuda/attention/params.h"
#include "cuda/predict/device_workspace.h"
#include "cuda/predict/predict_host.h"
#include "fgattn/cuda_timing.h"
#include "fgattn/error.h"
#include "fgattn/predict_cuda.h"

namespace fgattn {

struct OraclePredictor::Impl {
  cuda::Scratch lse, bits;
  cuda::PlanStorage out;
  cuda::PlanFinish finish;
  double tau = 0.0;
};

OraclePredictor::OraclePredictor() : impl_(std::make_unique<Impl>()) {}
OraclePredictor::~OraclePredictor() = default;
OraclePredictor::OraclePredictor(OraclePredictor&&) noexcept = default;
OraclePredictor& OraclePredictor::operator=(OraclePredictor&&) noexcept = default;

const DevicePlan& OraclePredictor::plan() const { return impl_->out.plan; }
double OraclePredictor::tau() const { return impl_->tau; }

std::size_t OraclePredictor::workspace_bytes() const {
  const Impl& w = *impl_;
  return w.out.bytes() + w.finish.bytes() + w.lse.bytes() + w.bits.bytes();
}

namespace {

// The S-only kernel's parameters over every key of (q, k): no V (k stands in for the unused V map), no O.
cuda::AttentionParams scores_params(const TensorView& q, const TensorView& k, int block_m, std::int64_t rows) {
  cuda::AttentionParams p;
  p.q = q.data, p.k = k.data, p.v = k.data;
  for (int i = 0; i < 3; ++i) p.q_stride[i] = q.strides[i], p.k_stride[i] = k.strides[i], p.v_stride[i] = k.strides[i];
  p.all_keys = true;
  p.batch = static_cast<int>(q.batch()), p.heads = static_cast<int>(q.heads());
  p.seq_q = static_cast<int>(q.seq()), p.seq_kv = static_cast<int>(k.seq()), p.head_dim = static_cast<int>(q.head_dim());
  p.block_m = block_m;
  p.rows = rows;
  p.scale_log2 = static_cast<float>(1.0 / std::sqrt(static_cast<double>(q.head_dim())) * M_LOG2E);
  p.element = q.dtype == DType::bf16 ? cuda::AttnElement::bf16 : cuda::AttnElement::f16;
  p.kv_load = cuda::KvLoad::tma_runs;  // every oracle tile is a run of consecutive keys
  return p;
}

}  // namespace

const DevicePlan& OraclePredictor::predict(const TensorView& q, const TensorView& k, const OracleOptions& options,
                                           cudaStream_t stream) {
  return run(q, k, nullptr, options, stream);
}

const DevicePlan& OraclePredictor::predict_from_lse(const TensorView& q, const TensorView& k, const float* lse,
                                                    const OracleOptions& options, cudaStream_t stream) {
  if (lse == nullptr) throw Error("lse", "is null (pass attention()'s (B, H, Sq) LSE, or call predict())");
  if (reinterpret_cast<std::uintptr_t>(lse) % alignof(float) != 0) throw Error("lse", "must be 4-byte aligned");
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, lse) != cudaSuccess || attributes.type != cudaMemoryTypeDevice) {
    cudaGetLastError();  // clear the query's error
    throw Error("lse", "must be device memory (attention()'s LSE on the GPU)");
  }
  return run(q, k, lse, options, stream);
}

const DevicePlan& OraclePredictor::run(const TensorView& q, const TensorView& k, const float* given_lse,
                                       const OracleOptions& options, cudaStream_t stream) {
  using namespace fgattn::cuda;
  check_predictor_operands(q, k);
  check_block_m(options.block_m);
  const int n = options.block_n;
  if (!(n >= 1 && ((n <= 64 && 64 % n == 0) || n % 64 == 0)))
    throw Error("block_n", fmt::format("{} must divide 64 or be a multiple of 64", n));
  Impl& w = *impl_;
  const Plan shape = plan_with_sizes(q.batch(), q.heads(), q.seq(), k.seq(), options.block_m);  // checks the sizes
  check_text_tokens(options.text_tokens, shape.seq_q, shape.seq_kv);
  const std::int64_t rows = shape.rows(), words = (shape.seq_kv + 63) / 64;
  w.tau = options.tau >= 0 ? options.tau : 0.5 / static_cast<double>(shape.seq_kv);
  const int partials = options.block_m / 16;  // one bit row per warp of the block (consumer_scores.cuh)
  auto* bits = w.bits.get<std::uint64_t>(static_cast<std::size_t>(rows * partials * words), "oracle workspace");
  w.out.prepare(shape);
  w.finish.prepare(shape, options.row_order, stream);
  DevicePlan& plan = w.out.plan;

  // Pass 1 (unless given): the row LSE, S = Q K^T over every key with the attention kernel's online softmax.
  AttentionParams scores = scores_params(q, k, options.block_m, rows);
  const float* lse = given_lse;
  if (lse == nullptr) {
    scores.scores = ScoresOutput::row_lse;
    scores.lse = w.lse.get<float>(static_cast<std::size_t>(q.batch() * q.heads() * q.seq()), "oracle workspace");
    check_cuda(launch_scores(scores, stream), "oracle row LSE");
    lse = scores.lse;
  }
  // Pass 2: the bits, S again against each row's threshold.
  scores.scores = ScoresOutput::oracle_bits;
  scores.lse = nullptr;
  scores.oracle = {lse, static_cast<float>(std::log2(w.tau)), bits, static_cast<int>(words)};
  check_cuda(launch_scores(scores, stream), "oracle bits");
  // Pass 3: the CSR plan from the bits, then its row schedule.
  BitsToPlanParams bp;
  bp.bits = bits;
  bp.partials = partials;
  bp.rows = rows;
  bp.seq_kv = static_cast<int>(shape.seq_kv);
  bp.block_n = n;
  bp.text_tokens = static_cast<int>(options.text_tokens);
  bp.block_m = options.block_m;
  bp.query_blocks = shape.query_blocks();
  bp.offsets = plan.offsets;
  bp.indices = plan.indices;
  check_cuda(launch_plan_counts(bp, stream), "plan_counts");
  w.finish.scan_counts(plan, stream);
  check_cuda(launch_plan_fill(bp, stream), "plan_fill");
  w.finish.schedule_rows(plan, stream);
  return plan;
}

const DevicePlan& OraclePredictor::finish(cudaStream_t stream) {
  cuda::finish_plan(impl_->out.plan, stream);
  return impl_->out.plan;
}

Plan OraclePredictor::download(cudaStream_t stream) { return cuda::download_plan(finish(stream), stream); }

Prediction oracle_plan_cuda(const TensorView& q, const TensorView& k, const OracleOptions& options) {
  const int n = options.block_n;
  const std::string granularity = n == 1 ? "Mx1" : n == options.block_m ? "MxM" : fmt::format("Mx{}", n);
  return cuda::predict_on_host<OraclePredictor>(q, k, options, [&](const OraclePredictor& predictor) {
    return PredictorReport{"oracle", granularity, predictor.tau(), 0.0, 0.0};
  });
}

}  // namespace fgattn
