// CUDA-event timing (fgattn/cuda_timing.h).
#include <algorithm>

#include "cuda/host/checks.h"
#include "fgattn/cuda_timing.h"
#include "fgattn/error.h"

namespace fgattn {

using cuda::check_cuda;

EventTimer::EventTimer(cudaStream_t stream) : stream_(stream) {
  check_cuda(cudaEventCreate(&start_), "timer event");
  if (const cudaError_t e = cudaEventCreate(&stop_); e != cudaSuccess) {
    cudaEventDestroy(start_);
    check_cuda(e, "timer event");
  }
  start();
}

EventTimer::~EventTimer() {
  cudaEventDestroy(start_);
  cudaEventDestroy(stop_);
}

void EventTimer::start() {
  check_cuda(cudaEventRecord(start_, stream_), "timer event");
  stopped_ = false;
}

void EventTimer::stop() {
  check_cuda(cudaEventRecord(stop_, stream_), "timer event");
  stopped_ = true;
}

double EventTimer::milliseconds() {
  if (!stopped_) stop();
  check_cuda(cudaEventSynchronize(stop_), "timed GPU work");
  float ms = 0;
  check_cuda(cudaEventElapsedTime(&ms, start_, stop_), "timer event");
  return ms;
}

Timing summarize(std::vector<double> samples_ms) {
  if (samples_ms.empty()) throw Error("timing", "no samples (reps must be >= 1)");
  std::sort(samples_ms.begin(), samples_ms.end());
  return {samples_ms[samples_ms.size() / 2], samples_ms.front(), samples_ms.back(), static_cast<int>(samples_ms.size())};
}

}  // namespace fgattn
