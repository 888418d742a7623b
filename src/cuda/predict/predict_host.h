#pragma once
// Host helpers shared by the GPU predictors: CUDA error checks, scratch buffers, operand checks and GPU timing.
#include <cuda_runtime.h>

#include <memory>
#include <mutex>

#include "cuda/host/checks.h"
#include "cuda/predict/oracle_params.h"
#include "fgattn/cuda_timing.h"
#include "fgattn/plan.h"
#include "fgattn/predict.h"
#include "fgattn/tensor.h"

namespace fgattn::cuda {

// Scratch comes from the device's stream-ordered memory pool (kept, not released, between calls), so a repeated
// prediction does not pay cudaMalloc's synchronous cost for its hundreds of megabytes.
void* pool_alloc(std::size_t bytes, const char* what);
struct DeviceFree {
  void operator()(void* p) const { cudaFreeAsync(p, nullptr); }
};
template <typename T>
using DeviceBuffer = std::unique_ptr<T, DeviceFree>;

template <typename T>
DeviceBuffer<T> device_alloc(std::size_t count, const char* what) {
  return DeviceBuffer<T>(static_cast<T*>(pool_alloc((count > 0 ? count : 1) * sizeof(T), what)));
}

// q/k of a GPU predictor: GPU operands (checks.h) of equal dtype, batch, heads and head dim.
void check_predictor_operands(const TensorView& q, const TensorView& k);
ElementType element_type(const TensorView& t);

// The host API's prediction (oracle_plan_cuda, topcdf_plan_cuda): one predictor of each kind for the process, its
// workspace reused by every call (never freed: no teardown-order issues), timed on the default stream from the launch
// until the plan is complete on the device, then downloaded (not timed). `report` names the predictor; its density
// and seconds are filled here.
template <typename Predictor, typename Options, typename Report>
Prediction predict_on_host(const TensorView& q, const TensorView& k, const Options& options, Report&& report) {
  static std::mutex lock;
  static auto* predictor = new Predictor;
  const std::lock_guard<std::mutex> guard(lock);
  EventTimer timer;
  predictor->predict(q, k, options, nullptr);
  timer.stop();
  const double seconds = timer.milliseconds() / 1e3;
  Prediction prediction{predictor->download(nullptr), report(*predictor)};
  prediction.report.seconds = seconds;
  prediction.report.density = prediction.plan.density();
  return prediction;
}

}  // namespace fgattn::cuda
