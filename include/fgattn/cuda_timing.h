#pragma once
// CUDA-event timing (builds with CUDA only), the one implementation behind every GPU time fgattn reports: the
// predictors' cost, the frontier sweep and the benchmarks. Times are GPU times between two events on a stream, so
// host work outside the events (argument checks, poisoning an output) is not counted.
#include <cuda_runtime_api.h>

#include <utility>
#include <vector>

namespace fgattn {

// An event pair on `stream`. Construction records the start; milliseconds() records the stop if stop() was not
// called, waits for it and returns the time between the two. start() records a new start.
class EventTimer {
 public:
  explicit EventTimer(cudaStream_t stream = nullptr);
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  void start();
  void stop();
  double milliseconds();

 private:
  cudaStream_t stream_;
  cudaEvent_t start_{}, stop_{};
  bool stopped_ = false;
};

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int reps = 0;
};

// The median (upper median for an even count), min and max of `samples_ms`; throws fgattn::Error when empty.
Timing summarize(std::vector<double> samples_ms);

// `warmup` untimed calls of launch(), then `reps` timed ones, each alone between two events on `stream`;
// before_each() runs before every timed call, outside the events (poison an output, flush the L2 cache).
template <typename BeforeEach, typename Launch>
Timing time_launches(int reps, int warmup, BeforeEach&& before_each, Launch&& launch, cudaStream_t stream = nullptr) {
  for (int w = 0; w < warmup; ++w) launch();
  EventTimer timer(stream);
  std::vector<double> samples;
  for (int r = 0; r < reps; ++r) {
    before_each();
    timer.start();
    launch();
    samples.push_back(timer.milliseconds());
  }
  return summarize(std::move(samples));
}

}  // namespace fgattn
