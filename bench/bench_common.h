#pragma once
// Helpers shared by the benchmarks (attention_bench.cpp, attention_diagnose.cpp, generator_plans.cpp,
// predict_cost.cpp): CUDA error exit, deterministic random bf16 inputs, the non-finite count of a poisoned-then-written
// output, random M x 1 plans, the kernel choices a run takes from its flags, and CUDA-event timings (the library's
// fgattn/cuda_timing.h, with the L2 cache flushed before each timed launch).
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "fgattn/attention.h"
#include "fgattn/cuda_timing.h"
#include "fgattn/dtype.h"
#include "fgattn/plan.h"
#include "fgattn/row_order.h"

namespace fgattn::bench {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    fmt::print(stderr, "{}: {}\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

// Uniform [-2, 2) values rounded to bf16, from a splitmix hash (host side; copied once per shape).
inline std::vector<std::uint16_t> random_bf16(std::int64_t n, std::uint64_t seed) {
  std::vector<std::uint16_t> h(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint64_t x = (static_cast<std::uint64_t>(i) + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    x ^= x >> 31, x *= 0xBF58476D1CE4E5B9ull, x ^= x >> 29;
    const float u = static_cast<float>(x >> 40) * (1.0f / 16777216.0f) * 4.f - 2.f;
    h[static_cast<std::size_t>(i)] = float_to_bf16(u);
  }
  return h;
}

inline std::uint64_t count_nonfinite(const std::uint16_t* d, std::int64_t n) {
  std::vector<std::uint16_t> h(static_cast<std::size_t>(n));
  check(cudaMemcpy(h.data(), d, static_cast<std::size_t>(n) * 2, cudaMemcpyDeviceToHost), "copy");
  std::uint64_t bad = 0;
  for (auto x : h) bad += (x & 0x7F80u) == 0x7F80u;  // bf16 exponent all ones: inf or NaN
  return bad;
}

// Each (row, key) kept with probability `keep` (xorshift, fast enough for 10^9 draws).
inline Plan random_plan(std::int64_t B, std::int64_t H, std::int64_t S, int M, double keep, std::uint64_t seed) {
  Plan p;
  p.batch = B, p.heads = H, p.seq_q = S, p.seq_kv = S, p.block_m = M;
  const std::int64_t rows = p.rows();
  p.offsets.resize(static_cast<std::size_t>(rows) + 1, 0);
  p.indices.reserve(static_cast<std::size_t>(static_cast<double>(rows * S) * keep * 1.01) + 1024);
  const auto threshold = static_cast<std::uint64_t>(keep * 18446744073709551615.0);
  std::uint64_t x = seed | 1;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int32_t j = 0; j < S; ++j) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      if (x < threshold) p.indices.push_back(j);
    }
    p.offsets[static_cast<std::size_t>(r) + 1] = static_cast<std::int64_t>(p.indices.size());
  }
  return p;
}

// Scratch twice the size of the L2 cache, zeroed on the stream before each timed launch (as Triton's do_bench):
// every launch starts from a cold L2, and the memset keeps the GPU busy while the host enqueues the launch, so
// host-side argument checks never show up as idle GPU time between the events.
class L2Flush {
 public:
  L2Flush() {
    int device = 0, l2 = 0;
    check(cudaGetDevice(&device), "device");
    check(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device), "L2 size");
    bytes_ = std::max<std::size_t>(2 * static_cast<std::size_t>(l2), std::size_t{1} << 20);
    check(cudaMalloc(&scratch_, bytes_), "L2 flush buffer");
  }
  ~L2Flush() { cudaFree(scratch_); }
  L2Flush(const L2Flush&) = delete;
  L2Flush& operator=(const L2Flush&) = delete;
  void operator()(cudaStream_t stream = nullptr) { check(cudaMemsetAsync(scratch_, 0, bytes_, stream), "L2 flush"); }

 private:
  void* scratch_ = nullptr;
  std::size_t bytes_ = 0;
};

inline constexpr const char* kTimingMethod =
    "median of CUDA-event timings on the default stream after warm-up launches; before each timed launch the output "
    "is poisoned (where the bench owns it) and the L2 cache flushed (a memset of twice its size), outside the events";

inline L2Flush& l2_flush() {  // one buffer for every timing loop of the process
  static L2Flush flush;
  return flush;
}

// `reps` CUDA-event timings of launch() on the default stream after `warmup` untimed launches; before_each() (e.g.
// poisoning the output) and an L2 flush run before every timed launch, outside the events.
template <typename BeforeEach, typename Launch>
Timing time_ms(int reps, int warmup, BeforeEach&& before_each, Launch&& launch) {
  L2Flush& flush_l2 = l2_flush();
  auto prepare = [&] {
    before_each();
    flush_l2();
  };
  Timing t = time_launches(std::max(reps, 1), warmup, prepare, launch);
  check(cudaDeviceSynchronize(), "timed launches");
  return t;
}

// The median of time_ms without a per-launch hook.
template <typename Launch>
double median_ms(int reps, int warmup, Launch&& launch) {
  return time_ms(reps, warmup, [] {}, std::forward<Launch>(launch)).median_ms;
}

// The kernel choices of a benchmark run (--kv-load, --row-order), recorded in every record.
struct KernelChoice {
  KvLoad kv_load = KvLoad::tma_runs;
  RowOrder row_order = RowOrder::longest_first_per_head;

  // Takes argv[i] (and its value) when it is one of the flags; false otherwise.
  bool parse(int argc, char** argv, int& i) {
    const std::string a = argv[i];
    if (i + 1 >= argc || (a != "--kv-load" && a != "--row-order")) return false;
    const std::string value = argv[++i];
    if (a == "--kv-load" && (value == "tma_runs" || value == "cp_async"))
      kv_load = value == "tma_runs" ? KvLoad::tma_runs : KvLoad::cp_async;
    else if (a == "--row-order" && (value == "per_head" || value == "global"))
      row_order = value == "per_head" ? RowOrder::longest_first_per_head : RowOrder::longest_first_global;
    else {
      fmt::print(stderr, "{} {}: expected --kv-load tma_runs|cp_async or --row-order per_head|global\n", a, value);
      std::exit(2);
    }
    return true;
  }
  AttentionOptions options() const {
    AttentionOptions o;
    o.kv_load = kv_load;
    return o;
  }
  std::string backend() const {
    return kv_load == KvLoad::tma_runs ? "fgattn (sm90a wgmma warp-specialised, K/V runs by TMA, others by cp.async)"
                                       : "fgattn (sm90a wgmma warp-specialised, K/V by cp.async)";
  }
};

inline std::string utc_now() {
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return date;
}

}  // namespace fgattn::bench
