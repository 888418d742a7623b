// fgattn_bench: median CUDA-event time of the sparse attention kernel on video shapes, dense and random M x 1
// plans (M = 64, 128) at 100/50/25/10/5 % kept. Random non-zero inputs, output poisoned (NaN) and L2 flushed before
// each timed launch, the output checked finite after (bench_common.h); then oracle plans of the video-like generator
// at 50/25/10/5 % (generator_plans.h; --no-generator skips them). One JSON record per configuration; FLOPs counted:
// attended = 4 * D * kept (query, key) pairs (QK^T and PV, 2 FLOP per multiply-add), i.e. 4*B*H*D*kept pairs.
//   fgattn_bench [--out FILE] [--reps N] [--quick] [--no-generator] [--kv-load tma_runs|cp_async]
//                [--row-order per_head|global]
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <utility>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_common.h"
#include "generator_plans.h"
#include "fgattn/cuda.h"
#include "fgattn/dtype.h"
#include "fgattn/plan.h"

using namespace fgattn;
using namespace fgattn::bench;

namespace {

struct Shape {
  std::string name;
  std::int64_t B, H, S, D;
};

}  // namespace

int main(int argc, char** argv) {
  std::string out_path = "bench_fgattn.json";
  int reps = 20;
  bool quick = false, generator = true;
  KernelChoice choice;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) out_path = argv[++i];
    else if (a == "--reps" && i + 1 < argc) reps = std::stoi(argv[++i]);
    else if (a == "--quick") quick = true;
    else if (a == "--no-generator") generator = false;
    else if (!choice.parse(argc, argv, i)) {
      fmt::print(stderr, "fgattn_bench: unknown argument {}\n", a);
      return 2;
    }
  }
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "device");
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));

  std::vector<Shape> shapes = {{"wan480", 1, 12, 32760, 128}, {"wan720", 1, 12, 75600, 128}, {"cogvideox_d64", 1, 48, 17776, 64}};
  if (quick) shapes = {{"wan480", 1, 12, 32760, 128}};
  const std::vector<double> densities = {1.0, 0.5, 0.25, 0.10, 0.05};
  nlohmann::json records = nlohmann::json::array();

  for (const Shape& sh : shapes) {
    const std::int64_t n = sh.B * sh.S * sh.H * sh.D;
    std::uint16_t *q, *k, *v, *o;
    check(cudaMalloc(&q, n * 2), "alloc"), check(cudaMalloc(&k, n * 2), "alloc"), check(cudaMalloc(&v, n * 2), "alloc");
    check(cudaMalloc(&o, n * 2), "alloc");
    for (auto [ptr, seed] : {std::pair{q, 1ull}, std::pair{k, 2ull}, std::pair{v, 3ull}}) {
      const auto h = random_bf16(n, seed);
      check(cudaMemcpy(ptr, h.data(), static_cast<std::size_t>(n) * 2, cudaMemcpyHostToDevice), "upload");
    }
    auto view = [&](void* p) { return make_view(p, DType::bf16, Device::cuda, Layout::BSHD, sh.B, sh.S, sh.H, sh.D); };
    for (int M : {128, 64}) {
      for (double density : densities) {
        const auto t0 = std::chrono::steady_clock::now();
        const Plan plan = density >= 1.0 ? dense_plan(sh.B, sh.H, sh.S, sh.S, M)
                                         : random_plan(sh.B, sh.H, sh.S, M, density, 0x1234567ull + static_cast<std::uint64_t>(density * 1000) + M);
        const DevicePlan dplan = DevicePlan::upload(plan, nullptr, choice.row_order);
        const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const Timing t = time_ms(
            reps, 3, [&] { check(cudaMemsetAsync(o, 0xFF, n * 2), "poison"); },
            [&] { attention(view(q), view(k), view(v), dplan, view(o), nullptr, choice.options()); });
        const std::uint64_t nbad = count_nonfinite(o, n);  // the last timed launch's output
        const double med = t.median_ms;
        const double flops = 4.0 * static_cast<double>(sh.D) * plan.attended_pairs();
        nlohmann::json rec = {
            {"device", prop.name}, {"date", date}, {"shape", fmt::format("{} B{} H{} S{} D{}", sh.name, sh.B, sh.H, sh.S, sh.D)},
            {"backend", choice.backend()}, {"granularity", density >= 1.0 ? fmt::format("dense (M={})", M) : fmt::format("{}x1", M)},
            {"density", plan.density()}, {"target_density", density}, {"ms", med}, {"ms_min", t.min_ms}, {"ms_max", t.max_ms},
            {"reps", reps}, {"timing", kTimingMethod}, {"row_order", row_order_name(choice.row_order)}, {"tflops_attended", flops / (med * 1e-3) / 1e12},
            {"flops_counted", "attended: 4*D*kept (query,key) pairs (QK^T + PV)"}, {"nonfinite_outputs", nbad},
            {"plan_build_upload_s", build_s}, {"cuda_runtime", runtime}, {"cuda_driver", driver}, {"dtype", "bf16"}};
        fmt::print("{:<34} {:<14} density {:6.4f}  {:9.3f} ms  {:7.1f} TFLOP/s attended  nonfinite {}\n",
                   rec["shape"].get<std::string>(), rec["granularity"].get<std::string>(), plan.density(), med,
                   rec["tflops_attended"].get<double>(), nbad);
        std::fflush(stdout);
        records.push_back(rec);
        std::ofstream(out_path) << records.dump(1) << "\n";
      }
    }
    cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(o);
  }
  if (generator) {  // the same kernel on oracle plans of the video-like generator (generator_plans.h)
    std::vector<std::pair<std::string, int>> runs = {{"wan480p", 128}, {"wan480p", 64}};
    if (!quick) runs.push_back({"wan720p", 128});
    for (const auto& [preset, M] : runs) {
      for (auto& rec : generator_plan_records(preset, {0.5, 0.25, 0.10, 0.05}, M, reps, choice, prop.name, date)) {
        records.push_back(rec);
        std::ofstream(out_path) << records.dump(1) << "\n";
      }
    }
  }
  return 0;
}
