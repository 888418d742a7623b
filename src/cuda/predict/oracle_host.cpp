// Host side of the GPU oracle: argument checks, the reusable workspace and the passes on one stream — row LSE and
// oracle bits (both the sm_90a attention kernel's S-only mode, wgmma_scores.cuh), counts, CUB scan, fill, CUB row
// sort. A warm predict() allocates nothing and never waits for the
// device; oracle_plan_cuda runs one shared predictor and copies the plan to the host.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "fgattn/row_order.h"
#include "cuda/attention/params.h"
#include "cuda/predict/device_workspace.h"
#include "cuda/predict/predict_host.h"
#include "fgattn/error.h"
#include "fgattn/predict_cuda.h"

namespace fgattn {

struct OraclePredictor::Impl {
  cuda::Scratch lse, bits, counts, counts_sorted, row_ids, cub;
  cuda::PlanStorage out;
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
  std::size_t bytes = w.out.bytes();
  for (const cuda::Scratch* s : {&w.lse, &w.bits, &w.counts, &w.counts_sorted, &w.row_ids, &w.cub}) bytes += s->bytes();
  return bytes;
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
  p.kv_load = cuda::default_kv_load();
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
  const int partials = options.block_m / 16;  // one bit row per warp of the block (wgmma_scores.cuh)
  auto* bits = w.bits.get<std::uint64_t>(static_cast<std::size_t>(rows * partials * words), "oracle workspace");
  BitsToPlanParams bp;
  bp.counts = w.counts.get<std::int32_t>(static_cast<std::size_t>(rows), "oracle workspace");
  bp.row_ids = w.row_ids.get<std::int32_t>(static_cast<std::size_t>(rows), "oracle workspace");
  auto* counts_sorted = w.counts_sorted.get<std::int32_t>(static_cast<std::size_t>(rows), "oracle workspace");
  w.out.prepare(shape);
  DevicePlan& plan = w.out.plan;
  // Sized and run with the same segment (one head), so the CUB scratch fits.
  const std::int64_t sort_segment = row_order_segment(shape, default_row_order());
  std::size_t scan_bytes = 0, sort_bytes = 0;
  check_cuda(scan_offsets(nullptr, scan_bytes, plan.offsets, rows, stream), "oracle scan");
  check_cuda(sort_rows_by_count(nullptr, sort_bytes, bp.counts, counts_sorted, bp.row_ids, plan.order, rows,
                                static_cast<int>(k.seq()), sort_segment, stream),
             "oracle sort");
  void* cub_scratch = w.cub.get<std::uint8_t>(std::max(scan_bytes, sort_bytes), "oracle workspace");

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
  check_cuda(scan_offsets(cub_scratch, scan_bytes, plan.offsets, rows, stream), "oracle scan");
  check_cuda(launch_plan_fill(bp, stream), "plan_fill");
  check_cuda(sort_rows_by_count(cub_scratch, sort_bytes, bp.counts, counts_sorted, bp.row_ids, plan.order, rows,
                                static_cast<int>(k.seq()), sort_segment, stream),
             "oracle sort");
  return plan;
}

const DevicePlan& OraclePredictor::finish(cudaStream_t stream) {
  cuda::finish_plan(impl_->out.plan, stream);
  return impl_->out.plan;
}

Plan OraclePredictor::download(cudaStream_t stream) { return cuda::download_plan(finish(stream), stream); }

Prediction oracle_plan_cuda(const TensorView& q, const TensorView& k, const OracleOptions& options) {
  // One predictor for the host API: its workspace is reused by every call (never freed: no teardown-order issues).
  static std::mutex lock;
  static auto* predictor = new OraclePredictor;
  const std::lock_guard<std::mutex> guard(lock);
  cuda::GpuTimer timer;
  predictor->predict(q, k, options, nullptr);
  timer.stop();
  const double seconds = timer.seconds();
  const int n = options.block_n;
  const std::string granularity = n == 1 ? "Mx1" : n == options.block_m ? "MxM" : fmt::format("Mx{}", n);
  Prediction prediction{predictor->download(nullptr), {"oracle", granularity, predictor->tau(), 0.0, seconds}};
  prediction.report.density = prediction.plan.density();
  return prediction;
}

}  // namespace fgattn
