#include "cuda/predict/device_workspace.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "cuda/host/checks.h"
#include "cuda/predict/oracle_params.h"
#include "fgattn/error.h"
#include "fgattn/plan_cuda.h"

namespace fgattn::cuda {

Scratch::Scratch(Scratch&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}

Scratch& Scratch::operator=(Scratch&& o) noexcept {
  std::swap(ptr_, o.ptr_);
  std::swap(bytes_, o.bytes_);
  return *this;
}

Scratch::~Scratch() { cudaFree(ptr_); }

void* Scratch::bytes_at_least(std::size_t bytes, const char* what) {
  if (bytes > bytes_) {
    check_cuda(cudaFree(ptr_), what);
    ptr_ = nullptr, bytes_ = 0;
    check_cuda(cudaMalloc(&ptr_, bytes), what);
    bytes_ = bytes;
  }
  return ptr_;
}

void PlanStorage::prepare(const Plan& shape) {
  const std::int64_t rows = shape.rows(), indices = rows * shape.seq_kv;
  if (rows > row_capacity || indices > index_capacity) {
    DevicePlan fresh;
    const std::int64_t new_rows = std::max(rows, row_capacity), new_indices = std::max(indices, index_capacity);
    check_cuda(cudaMalloc(&fresh.offsets, static_cast<std::size_t>(new_rows + 1) * sizeof(std::int64_t)), "plan offsets");
    check_cuda(cudaMalloc(&fresh.order, static_cast<std::size_t>(std::max<std::int64_t>(new_rows, 1)) * sizeof(std::int32_t)),
               "plan order");
    check_cuda(cudaMalloc(&fresh.indices, static_cast<std::size_t>(std::max<std::int64_t>(new_indices, 1)) * sizeof(std::int32_t)),
               "plan indices");
    plan = std::move(fresh);  // frees the smaller arrays
    row_capacity = new_rows, index_capacity = new_indices;
  }
  plan.batch = shape.batch, plan.heads = shape.heads, plan.seq_q = shape.seq_q, plan.seq_kv = shape.seq_kv;
  plan.block_m = shape.block_m, plan.rows = rows;
  plan.nnz = -1, plan.attended_pairs = -1.0;
}

std::size_t PlanStorage::bytes() const {
  return static_cast<std::size_t>(row_capacity + 1) * 8 + static_cast<std::size_t>(row_capacity) * 4 +
         static_cast<std::size_t>(index_capacity) * 4;
}

void PlanFinish::prepare(const Plan& sizes, RowOrder order, cudaStream_t stream) {
  sizes_ = plan_with_sizes(sizes.batch, sizes.heads, sizes.seq_q, sizes.seq_kv, sizes.block_m);
  order_ = order;
  scan_bytes_ = 0;
  check_cuda(scan_offsets(nullptr, scan_bytes_, nullptr, sizes_.rows(), stream), "offsets scan");
  scan_.get<std::uint8_t>(scan_bytes_, "offsets scan workspace");
  schedule_bytes_ = row_schedule_workspace_bytes(sizes_, order_);
  schedule_.get<std::uint8_t>(schedule_bytes_, "row schedule workspace");
}

void PlanFinish::scan_counts(DevicePlan& plan, cudaStream_t stream) {
  check_cuda(scan_offsets(scan_.get<std::uint8_t>(scan_bytes_, "offsets scan workspace"), scan_bytes_, plan.offsets,
                          plan.rows, stream),
             "offsets scan");
}

void PlanFinish::schedule_rows(DevicePlan& plan, cudaStream_t stream) {
  schedule_rows_cuda(plan.offsets, sizes_, order_, plan.order,
                     schedule_.get<std::uint8_t>(schedule_bytes_, "row schedule workspace"), schedule_bytes_, stream);
}

void finish_plan(DevicePlan& plan, cudaStream_t stream) {
  if (plan.offsets == nullptr) throw Error("predictor", "finish() before predict()");
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(plan.rows + 1));
  check_cuda(cudaMemcpyAsync(offsets.data(), plan.offsets, offsets.size() * sizeof(std::int64_t), cudaMemcpyDeviceToHost, stream),
             "plan offsets");
  check_cuda(cudaStreamSynchronize(stream), "predict");
  const Plan shape = plan_with_sizes(plan.batch, plan.heads, plan.seq_q, plan.seq_kv, plan.block_m);
  const std::int64_t nqb = shape.query_blocks();
  double pairs = 0;
  for (std::int64_t r = 0; r < plan.rows; ++r)
    pairs += static_cast<double>(offsets[static_cast<std::size_t>(r) + 1] - offsets[static_cast<std::size_t>(r)]) *
             static_cast<double>(shape.block_rows(r % nqb));
  plan.nnz = offsets.back();
  plan.attended_pairs = pairs;
}

Plan download_plan(const DevicePlan& d, cudaStream_t stream) {
  if (d.nnz < 0) throw Error("plan", "not finished (call finish() first)");
  Plan plan = plan_with_sizes(d.batch, d.heads, d.seq_q, d.seq_kv, d.block_m);
  plan.offsets.resize(static_cast<std::size_t>(d.rows + 1));
  plan.indices.resize(static_cast<std::size_t>(d.nnz));
  check_cuda(cudaMemcpyAsync(plan.offsets.data(), d.offsets, plan.offsets.size() * sizeof(std::int64_t),
                             cudaMemcpyDeviceToHost, stream),
             "plan offsets");
  if (d.nnz > 0)
    check_cuda(cudaMemcpyAsync(plan.indices.data(), d.indices, plan.indices.size() * sizeof(std::int32_t),
                               cudaMemcpyDeviceToHost, stream),
               "plan indices");
  check_cuda(cudaStreamSynchronize(stream), "plan download");
  validate(plan);
  return plan;
}

}  // namespace fgattn::cuda
