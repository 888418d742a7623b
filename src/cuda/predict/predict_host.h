#pragma once
// Host helpers shared by the GPU predictors: CUDA error checks, scratch buffers, operand checks and GPU timing.
#include <cuda_runtime.h>

#include <memory>

#include "cuda/host/checks.h"
#include "cuda/predict/oracle_params.h"
#include "fgattn/plan.h"
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

}  // namespace fgattn::cuda
