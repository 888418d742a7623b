// DevicePlan (fgattn/cuda.h): a validated plan copied to the device with its row schedule (fgattn/row_order.h), or a
// view of CSR arrays the caller already has there.
#include <cuda_runtime.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "cuda/host/checks.h"
#include "fgattn/cuda.h"
#include "fgattn/error.h"
#include "fgattn/row_order.h"

namespace fgattn {

using cuda::check_block_m;
using cuda::check_cuda;

DevicePlan DevicePlan::upload(const Plan& plan, cudaStream_t stream, RowOrder row_order) {
  validate(plan);
  check_block_m(plan.block_m);
  DevicePlan d;
  d.batch = plan.batch;
  d.heads = plan.heads;
  d.seq_q = plan.seq_q;
  d.seq_kv = plan.seq_kv;
  d.block_m = plan.block_m;
  d.rows = plan.rows();
  d.nnz = plan.nnz();
  d.attended_pairs = plan.attended_pairs();
  if (d.rows > (std::int64_t{1} << 31) - 1) throw Error("plan", "more than 2^31 - 1 rows");
  const std::vector<std::int32_t> order = schedule_rows(plan, row_order);  // the CTAs' row schedule
  const auto& off = plan.offsets;
  check_cuda(cudaMalloc(&d.offsets, off.size() * sizeof(std::int64_t)), "plan");
  check_cuda(cudaMalloc(&d.indices, std::max<std::size_t>(plan.indices.size(), 1) * sizeof(std::int32_t)), "plan");
  check_cuda(cudaMalloc(&d.order, std::max<std::size_t>(order.size(), 1) * sizeof(std::int32_t)), "plan");
  check_cuda(cudaMemcpyAsync(d.offsets, off.data(), off.size() * sizeof(std::int64_t), cudaMemcpyHostToDevice, stream), "plan");
  if (!plan.indices.empty())
    check_cuda(cudaMemcpyAsync(d.indices, plan.indices.data(), plan.indices.size() * sizeof(std::int32_t),
                               cudaMemcpyHostToDevice, stream), "plan");
  if (!order.empty())
    check_cuda(cudaMemcpyAsync(d.order, order.data(), order.size() * sizeof(std::int32_t), cudaMemcpyHostToDevice, stream),
               "plan");
  check_cuda(cudaStreamSynchronize(stream), "plan");  // the host vectors may go away after upload
  return d;
}

DevicePlan DevicePlan::borrow(std::int64_t batch, std::int64_t heads, std::int64_t seq_q, std::int64_t seq_kv,
                              int block_m, std::int64_t nnz, std::int64_t* offsets, std::int32_t* indices,
                              std::int32_t* order) {
  DevicePlan d;
  d.owns_memory_ = false;
  d.batch = batch, d.heads = heads, d.seq_q = seq_q, d.seq_kv = seq_kv, d.block_m = block_m;
  d.rows = plan_with_sizes(batch, heads, seq_q, seq_kv, block_m).rows();
  d.nnz = nnz, d.attended_pairs = -1.0;
  d.offsets = offsets, d.indices = indices, d.order = order;
  return d;
}

DevicePlan::DevicePlan(DevicePlan&& o) noexcept { *this = std::move(o); }

DevicePlan& DevicePlan::operator=(DevicePlan&& o) noexcept {
  if (this != &o) {
    release();
    batch = o.batch, heads = o.heads, seq_q = o.seq_q, seq_kv = o.seq_kv, block_m = o.block_m;
    rows = o.rows, nnz = o.nnz, attended_pairs = o.attended_pairs;
    offsets = std::exchange(o.offsets, nullptr);
    indices = std::exchange(o.indices, nullptr);
    order = std::exchange(o.order, nullptr);
    owns_memory_ = std::exchange(o.owns_memory_, true);
  }
  return *this;
}

DevicePlan::~DevicePlan() { release(); }

void DevicePlan::release() noexcept {
  if (owns_memory_) {
    cudaFree(offsets);
    cudaFree(indices);
    cudaFree(order);
  }
  offsets = nullptr, indices = nullptr, order = nullptr;
}
}  // namespace fgattn
