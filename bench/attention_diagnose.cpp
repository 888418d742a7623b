// fgattn_bench_diagnose: what bounds the sm_90a kernel, measured. On the Wan 480p shape (bf16, D = 128, M = 128)
// and plans at 100/25/10 % kept, it times in one run: the real kernel; the producer alone (consumers free each
// tile as it lands: the gather's ceiling); the consumers alone (producer signals tiles without copying: the
// wgmma + softmax ceiling); and the real kernel with 64-key tiles and more stages (fgattn/cuda_diagnostic.h).
// Only the real kernel's output is checked (poisoned before, finite after); the diagnostics' outputs mean nothing.
//   build/cuda/bench/fgattn_bench_diagnose [--out FILE] [--reps N]
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench_common.h"
#include "fgattn/cuda.h"
#include "fgattn/cuda_diagnostic.h"

using namespace fgattn;
using namespace fgattn::bench;

int main(int argc, char** argv) {
  std::string out_path = "bench_diagnose.json";
  int reps = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) out_path = argv[++i];
    else if (a == "--reps" && i + 1 < argc) reps = std::stoi(argv[++i]);
    else {
      fmt::print(stderr, "usage: fgattn_bench_diagnose [--out FILE] [--reps N]\n");
      return 2;
    }
  }
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "device");
  const std::string date = utc_now();
  constexpr std::int64_t B = 1, H = 12, S = 32760, D = 128;
  constexpr int M = 128;
  const std::int64_t n = B * S * H * D;
  std::uint16_t *q, *k, *v, *o;
  for (auto** ptr : {&q, &k, &v, &o}) check(cudaMalloc(ptr, n * 2), "alloc");
  for (auto [ptr, seed] : {std::pair{q, 1ull}, std::pair{k, 2ull}, std::pair{v, 3ull}}) {
    const auto h = random_bf16(n, seed);
    check(cudaMemcpy(ptr, h.data(), static_cast<std::size_t>(n) * 2, cudaMemcpyHostToDevice), "upload");
  }
  auto view = [&](void* p) { return make_view(p, DType::bf16, Device::cuda, Layout::BSHD, B, S, H, D); };
  nlohmann::json records = nlohmann::json::array();
  for (double density : {1.0, 0.25, 0.10}) {
    const Plan plan = density >= 1.0 ? dense_plan(B, H, S, S, M) : random_plan(B, H, S, M, density, 0x1234567ull + M);
    const DevicePlan dplan = DevicePlan::upload(plan);
    const double flops = 4.0 * static_cast<double>(D) * plan.attended_pairs();
    auto record = [&](const std::string& variant, double ms, std::optional<std::uint64_t> nonfinite) {
      nlohmann::json rec = {{"device", prop.name}, {"date", date}, {"shape", fmt::format("wan480 B{} H{} S{} D{}", B, H, S, D)},
                            {"backend", "fgattn sm90a"}, {"variant", variant}, {"granularity", density >= 1.0 ? "dense (M=128)" : "128x1"},
                            {"density", plan.density()}, {"ms", ms}, {"reps", reps},
                            {"tflops_attended", flops / (ms * 1e-3) / 1e12}};
      if (nonfinite) rec["nonfinite_outputs"] = *nonfinite;
      fmt::print("{:<70} density {:5.3f} {:9.3f} ms {:7.1f} TFLOP/s-equivalent\n", variant, plan.density(), ms,
                 rec["tflops_attended"].get<double>());
      records.push_back(rec);
      std::ofstream(out_path) << records.dump(1) << "\n";
    };
    const auto poison = [&] { check(cudaMemsetAsync(o, 0xFF, n * 2), "poison"); };
    const double real_ms = time_ms(reps, 3, poison, [&] { attention(view(q), view(k), view(v), dplan, view(o), nullptr); }).median_ms;
    record("real kernel", real_ms, count_nonfinite(o, n));
    for (auto d : {KernelDiagnostic::no_gather, KernelDiagnostic::no_math, KernelDiagnostic::tiles64}) {
      const double ms =
          time_ms(reps, 3, poison, [&] { attention_diagnostic(view(q), view(k), view(v), dplan, view(o), d); }).median_ms;
      // 64-key tiles compute the real thing: their output is checked like the real kernel's.
      record(diagnostic_name(d), ms,
             d == KernelDiagnostic::tiles64 ? std::optional<std::uint64_t>(count_nonfinite(o, n)) : std::nullopt);
    }
  }
  for (auto* ptr : {q, k, v, o}) cudaFree(ptr);
  return 0;
}
