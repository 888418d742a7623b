#pragma once
// Helpers shared by the attention benchmarks (attention_bench.cpp, attention_diagnose.cpp): CUDA error exit,
// deterministic random bf16 inputs, the non-finite count of a poisoned-then-written output, random M x 1 plans,
// and the median of CUDA-event timings after warm-up.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "fgattn/dtype.h"
#include "fgattn/plan.h"

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

// Median of `reps` CUDA-event timings of launch() on the default stream, after `warmup` untimed launches.
template <typename Launch>
double median_ms(int reps, int warmup, Launch&& launch) {
  for (int w = 0; w < warmup; ++w) launch();
  check(cudaDeviceSynchronize(), "warmup");
  std::vector<float> ms(static_cast<std::size_t>(reps));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0), cudaEventCreate(&e1);
  for (auto& m : ms) {
    cudaEventRecord(e0);
    launch();
    cudaEventRecord(e1);
    check(cudaEventSynchronize(e1), "time");
    cudaEventElapsedTime(&m, e0, e1);
  }
  cudaEventDestroy(e0), cudaEventDestroy(e1);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

inline std::string utc_now() {
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return date;
}

}  // namespace fgattn::bench
