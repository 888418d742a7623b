// See generator_plans.h.
#include "generator_plans.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdint>

#include "bench_common.h"
#include "plan_structure.h"
#include "fgattn/cuda.h"
#include "fgattn/predict_cuda.h"
#include "fgattn/workload.h"

namespace fgattn::bench {
namespace {

struct DeviceCopy {
  void* ptr = nullptr;
  explicit DeviceCopy(const HostTensor& t) {
    check(cudaMalloc(&ptr, t.bytes.size()), "alloc");
    check(cudaMemcpy(ptr, t.bytes.data(), t.bytes.size(), cudaMemcpyHostToDevice), "upload");
  }
  ~DeviceCopy() { cudaFree(ptr); }
  TensorView view(const HostTensor& t) const {
    TensorView v = t.view();
    v.data = ptr;
    v.device = Device::cuda;
    return v;
  }
};

}  // namespace

nlohmann::json generator_plan_records(const std::string& preset_name, const std::vector<double>& densities, int block_m,
                                      int reps, const KernelChoice& choice, const std::string& device_name,
                                      const std::string& date) {
  const WorkloadSpec spec = preset(preset_name);
  const Qkv host = generate_workload(spec, DType::bf16);
  const DeviceCopy q(host.q), k(host.k), v(host.v), o(host.q);
  const TensorView qv = q.view(host.q), kv = k.view(host.k), vv = v.view(host.v), ov = o.view(host.q);
  const auto& shape = host.q.shape;  // [B, S, H, D]
  const std::int64_t n = shape[0] * shape[1] * shape[2] * shape[3];
  const double skv = static_cast<double>(shape[1]);
  OraclePredictor oracle;
  auto predict_at = [&](double tau_times_skv) -> const DevicePlan& {  // the oracle plan, complete on the device
    OracleOptions options;
    options.block_m = block_m;
    options.tau = tau_times_skv / skv;
    options.row_order = choice.row_order;
    oracle.predict(qv, kv, options);
    return oracle.finish();
  };
  auto kept_fraction = [&](const DevicePlan& p) { return static_cast<double>(p.nnz) / (static_cast<double>(p.rows) * skv); };
  nlohmann::json records = nlohmann::json::array();
  for (const double target : densities) {
    // Kept fraction falls as tau rises: bisect log2(tau * Skv) in [-12, 14].
    double lo = -12.0, hi = 14.0, best_factor = 1.0, best_gap = 1e9;
    for (int it = 0; it < 24; ++it) {
      const double mid = 0.5 * (lo + hi), factor = std::exp2(mid);
      const double kept = kept_fraction(predict_at(factor));
      if (std::abs(kept - target) < best_gap) best_gap = std::abs(kept - target), best_factor = factor;
      if (std::abs(kept - target) <= 0.02 * target) break;
      (kept > target ? lo : hi) = mid;
    }
    const DevicePlan& plan = predict_at(best_factor);
    const double kept = kept_fraction(plan);
    const double ms = time_ms(
        reps, 3, [&] { check(cudaMemsetAsync(o.ptr, 0xFF, static_cast<std::size_t>(n) * 2), "poison"); },
        [&] { attention(qv, kv, vv, plan, ov, nullptr, choice.options()); }).median_ms;
    const std::uint64_t bad = count_nonfinite(static_cast<const std::uint16_t*>(o.ptr), n);
    const double flops = 4.0 * static_cast<double>(shape[3]) * plan.attended_pairs;
    nlohmann::json rec = {
        {"device", device_name}, {"date", date},
        {"shape", fmt::format("{} B{} H{} S{} D{}", preset_name.substr(0, preset_name.size() - 1), shape[0], shape[2],
                              shape[1], shape[3])},
        {"backend", choice.backend()}, {"granularity", fmt::format("{}x1 (generator)", block_m)},
        {"density", kept}, {"target_density", target}, {"ms", ms}, {"reps", reps}, {"timing", kTimingMethod}, {"row_order", row_order_name(choice.row_order)},
        {"tflops_attended", flops / (ms * 1e-3) / 1e12}, {"nonfinite_outputs", bad}, {"dtype", "bf16"},
        {"plan_source", fmt::format("oracle (max_q P > tau) on the video-like generator's q/k, preset {}", preset_name)},
        {"tau_times_skv", best_factor}, {"flops_counted", "attended: 4*D*kept (query,key) pairs (QK^T + PV)"},
        {"plan_structure", plan_structure(oracle.download(), block_m == 128 ? 128 : 64)}};
    fmt::print("{:<34} {:<14} density {:6.4f}  {:9.3f} ms  {:7.1f} TFLOP/s attended  nonfinite {}\n",
               rec["shape"].get<std::string>(), rec["granularity"].get<std::string>(), kept, ms,
               rec["tflops_attended"].get<double>(), bad);
    fmt::print("    plan structure {}\n", rec["plan_structure"].dump());
    records.push_back(rec);
  }
  return records;
}

}  // namespace fgattn::bench
