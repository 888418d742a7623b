#pragma once
// Reusable device memory of the device-resident predictors (TopCdfPredictor, OraclePredictor): scratch that
// grows to the largest request and is kept, the output DevicePlan's arrays (re-made only when they grow), and
// the host read-back of a finished plan.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "fgattn/cuda.h"
#include "fgattn/plan.h"
#include "fgattn/row_order.h"

namespace fgattn::cuda {

// Device memory that grows to the largest request and is kept: cudaMalloc only when it grows.
class Scratch {
 public:
  Scratch() = default;
  Scratch(Scratch&& o) noexcept;
  Scratch& operator=(Scratch&& o) noexcept;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch();
  template <typename T>
  T* get(std::size_t count, const char* what) {
    return static_cast<T*>(bytes_at_least((count > 0 ? count : 1) * sizeof(T), what));
  }
  std::size_t bytes() const { return bytes_; }

 private:
  void* bytes_at_least(std::size_t bytes, const char* what);
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

// The output plan of a device-resident predictor: DevicePlan frees its arrays with cudaFree, so they are
// cudaMalloc'd here; indices hold the worst case (rows x Skv) so no prediction needs the count on the host.
struct PlanStorage {
  DevicePlan plan;
  std::int64_t row_capacity = 0, index_capacity = 0;
  // Sizes the arrays for `shape` (allocating only when they grow) and sets the plan's sizes; nnz and
  // attended_pairs read -1 until finish_plan().
  void prepare(const Plan& shape);
  std::size_t bytes() const;
};

// The steps that finish both predictors' plans once each row's key count is in offsets[1..rows] (offsets[0] = 0):
// the CUB scan into CSR offsets, then the row schedule (schedule_rows_cuda, fgattn/plan_cuda.h), on kept scratch.
class PlanFinish {
 public:
  // Sizes the scratch for plans of `sizes` in `order` (allocating only when it grows). Before the passes, so a warm
  // prediction allocates nothing.
  void prepare(const Plan& sizes, RowOrder order, cudaStream_t stream);
  void scan_counts(DevicePlan& plan, cudaStream_t stream);     // counts -> offsets
  void schedule_rows(DevicePlan& plan, cudaStream_t stream);   // offsets -> plan.order
  std::size_t bytes() const { return scan_.bytes() + schedule_.bytes(); }

 private:
  Scratch scan_, schedule_;
  std::size_t scan_bytes_ = 0, schedule_bytes_ = 0;
  Plan sizes_;
  RowOrder order_ = RowOrder::longest_first_per_head;
};

// Waits for `stream`, then fills plan.nnz and plan.attended_pairs from the device offsets.
void finish_plan(DevicePlan& plan, cudaStream_t stream);
// A finished plan as a validated host Plan.
Plan download_plan(const DevicePlan& plan, cudaStream_t stream);

}  // namespace fgattn::cuda
