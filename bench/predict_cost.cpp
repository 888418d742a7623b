// Cost of the GPU predictors against dense attention in the same run (issue 4): Wan 480p shape from the
// video-like generator, bf16. The oracle twice: predict() (its own LSE pass, then the bits) and predict_from_lse()
// (the LSE from the dense attention a refresh step runs anyway; the bits only). Medians of CUDA-event timings after
// warm-up, L2 flushed before each; one JSON record per backend, its cost_vs_dense against dense launches
// interleaved with its own (dense_ms). Top-CDF is recorded as `output: device` (the plan on the device, what a
// pipeline pays: alone, queued behind GPU work, and replayed from a CUDA graph) and `output: host` (wall clock of
// the host-Plan API), plus the attention kernel run on the Top-CDF plan.
//   build/cuda/bench/fgattn_bench_predict [--preset wan480p] [--out FILE]
#include <cuda_runtime.h>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_common.h"
#include "fgattn/cuda.h"
#include "fgattn/cuda_timing.h"
#include "fgattn/predict_cuda.h"
#include "fgattn/workload.h"

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(fmt::format("{}: {}", what, cudaGetErrorString(e)));
}

double median(std::vector<double> v) { return fgattn::summarize(std::move(v)).median_ms; }

struct Device {
  void* ptr = nullptr;
  explicit Device(std::size_t bytes) { check(cudaMalloc(&ptr, bytes), "cudaMalloc"); }
  ~Device() { cudaFree(ptr); }
};

}  // namespace

int main(int argc, char** argv) try {
  std::string preset_name = "wan480p", out_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--preset") preset_name = argv[i + 1];
    else if (flag == "--out") out_path = argv[i + 1];
    else throw std::runtime_error("unknown flag " + flag);
  }
  const fgattn::WorkloadSpec spec = fgattn::preset(preset_name);
  const fgattn::Qkv host = fgattn::generate_workload(spec, fgattn::DType::bf16);
  const auto& shape = host.q.shape;
  Device q(host.q.bytes.size()), k(host.k.bytes.size()), v(host.v.bytes.size()), o(host.q.bytes.size());
  check(cudaMemcpy(q.ptr, host.q.bytes.data(), host.q.bytes.size(), cudaMemcpyHostToDevice), "upload");
  check(cudaMemcpy(k.ptr, host.k.bytes.data(), host.k.bytes.size(), cudaMemcpyHostToDevice), "upload");
  check(cudaMemcpy(v.ptr, host.v.bytes.data(), host.v.bytes.size(), cudaMemcpyHostToDevice), "upload");
  auto on_device = [](const fgattn::HostTensor& t, void* p) {
    fgattn::TensorView view = t.view();
    view.data = p;
    view.device = fgattn::Device::cuda;
    return view;
  };
  const auto qv = on_device(host.q, q.ptr), kv = on_device(host.k, k.ptr), vv = on_device(host.v, v.ptr);
  const auto ov = on_device(host.q, o.ptr);

  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "device");
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  const std::string date = fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
  const std::string shape_text = fmt::format("B={} S={} H={} D={}", shape[0], shape[1], shape[2], shape[3]);

  // Dense attention through the same kernel family (a dense plan), CUDA events around each launch.
  const int M = 128;
  const fgattn::DevicePlan dense = fgattn::DevicePlan::upload(fgattn::dense_plan(shape[0], shape[2], shape[1], shape[1], M));
  constexpr int kDenseReps = 10;
  const double dense_median = fgattn::bench::time_ms(
      kDenseReps, 2, [&] { check(cudaMemsetAsync(o.ptr, 0xFF, host.q.bytes.size()), "poison"); },
      [&] { fgattn::attention(qv, kv, vv, dense, ov, nullptr); }).median_ms;

  // One timed launch of `launch` on the default stream: L2 flushed before, CUDA events around it.
  fgattn::EventTimer timer;
  auto time_once = [&](auto&& launch) {
    fgattn::bench::l2_flush()();
    timer.start();
    launch();
    return timer.milliseconds();
  };
  // Dense attention's time depends on what ran before it (clocks under the power limit: 9.2-10.7 ms at wan480p
  // within one run), so every predictor is paired with dense launches interleaved with its own: one before each of
  // its timed launches, and its cost_vs_dense is the ratio of the two medians.
  std::vector<double> paired_dense;
  auto dense_once = [&] {
    check(cudaMemsetAsync(o.ptr, 0xFF, host.q.bytes.size()), "poison");
    paired_dense.push_back(time_once([&] { fgattn::attention(qv, kv, vv, dense, ov, nullptr); }));
  };
  auto take_paired_dense = [&] {
    const double m = median(paired_dense);
    paired_dense.clear();
    return m;
  };

  nlohmann::json records = nlohmann::json::array();
  auto record = [&](const std::string& backend, double ms, double dense_ms, double density, const nlohmann::json& extra) {
    nlohmann::json r = {{"device", prop.name}, {"date", date}, {"shape", shape_text}, {"preset", preset_name},
                        {"backend", backend}, {"ms", ms}, {"cost_vs_dense", ms / dense_ms}, {"dense_ms", dense_ms},
                        {"cost_vs_dense_block", ms / dense_median}, {"dense_block_ms", dense_median},
                        {"density", density}, {"cuda_runtime", runtime}, {"cuda_driver", driver},
                        {"dense_timing", fgattn::bench::kTimingMethod},
                        {"dense_pairing", "dense_ms: median of dense launches interleaved with this backend's timed "
                                          "launches (one before each), same flush and poison; dense_block_ms: the "
                                          "run's first dense measurement (back-to-back launches)"}};
    r.update(extra);
    records.push_back(r);
    std::cerr << fmt::format("{:<18} {:>9.3f} ms  {:>6.3f}x dense ({:.3f} ms)  density {:.3f}\n", backend, ms,
                             ms / dense_ms, dense_ms, density);
  };
  record("attention/dense", dense_median, dense_median, 1.0, {{"block_m", M}, {"dense_reps", kDenseReps}});

  for (int block_n : {1, 16, M}) {
    std::vector<double> ms;
    double density = 0;
    for (int rep = 0; rep < 6; ++rep) {
      fgattn::OracleOptions options;
      options.block_m = M;
      options.block_n = block_n;
      if (rep >= 1) dense_once();
      const fgattn::Prediction p = fgattn::oracle_plan_cuda(qv, kv, options);
      if (rep >= 1) ms.push_back(p.report.seconds * 1e3);
      density = p.report.density;
    }
    record(fmt::format("predict/oracle{}", block_n == 1 ? "" : block_n == M ? "-MxM" : fmt::format("-Mx{}", block_n)),
           median(ms), take_paired_dense(), density, {{"block_m", M}, {"block_n", block_n}, {"tau", 0.5 / static_cast<double>(shape[1])}, {"output", "host"},
            {"timing", "GPU time until the plan is complete on the device (report.seconds)"}});
  }
  // The oracle as a pipeline pays it (M x 1): a warm OraclePredictor, plan on the device.
  {
    fgattn::OracleOptions options;
    options.block_m = M;
    fgattn::OraclePredictor oracle;
    // One warm-up predict() allocates the workspace; then the median of 5 CUDA-event timings.
    oracle.predict(qv, kv, options);
    std::vector<double> ms;
    for (int rep = 0; rep < 5; ++rep) {
      dense_once();
      ms.push_back(time_once([&] { oracle.predict(qv, kv, options); }));
    }
    const fgattn::DevicePlan& plan = oracle.finish();
    record("predict/oracle", median(ms), take_paired_dense(), static_cast<double>(plan.nnz) / (static_cast<double>(plan.rows) * static_cast<double>(plan.seq_kv)),
           {{"block_m", M}, {"block_n", 1}, {"tau", oracle.tau()}, {"output", "device"},
            {"timing", "CUDA events around OraclePredictor::predict (warm workspace)"}});
  }

  // The refresh-step path: the dense attention that a refresh step runs anyway returns the LSE, and the oracle
  // plan is made from it (predict_from_lse: the bits pass and the compaction only).
  {
    Device lse(static_cast<std::size_t>(shape[0] * shape[2] * shape[1]) * sizeof(float));
    auto* lse_ptr = static_cast<float*>(lse.ptr);
    std::vector<double> dense_lse_ms, oracle_ms;
    for (int rep = 0; rep < 5; ++rep) {
      dense_once();
      dense_lse_ms.push_back(time_once([&] { fgattn::attention(qv, kv, vv, dense, ov, lse_ptr); }));
    }
    record("attention/dense+lse", median(dense_lse_ms), take_paired_dense(), 1.0,
           {{"block_m", M}, {"timing", "CUDA events, attention() with LSE"}});
    fgattn::OracleOptions options;
    options.block_m = M;
    fgattn::OraclePredictor oracle;
    oracle.predict_from_lse(qv, kv, lse_ptr, options);  // warm-up: allocates the workspace
    for (int rep = 0; rep < 5; ++rep) {
      dense_once();
      oracle_ms.push_back(time_once([&] { oracle.predict_from_lse(qv, kv, lse_ptr, options); }));
    }
    const fgattn::DevicePlan& plan = oracle.finish();
    record("predict/oracle-from-lse", median(oracle_ms), take_paired_dense(),
           static_cast<double>(plan.nnz) / (static_cast<double>(plan.rows) * static_cast<double>(plan.seq_kv)),
           {{"block_m", M}, {"block_n", 1}, {"tau", oracle.tau()}, {"output", "device"},
            {"timing", "CUDA events around OraclePredictor::predict_from_lse (warm workspace), given the LSE of the "
                       "refresh step's dense attention"}});
  }

  // Top-CDF as a pipeline pays it: a warm TopCdfPredictor enqueues the prediction and the plan is on the device,
  // ready for attention() on the same stream (CUDA events around predict(); no host sync inside it).
  fgattn::TopCdfOptions topcdf;
  topcdf.block_m = M;
  const nlohmann::json topcdf_extra = {{"block_m", M}, {"pool", topcdf.pool}, {"tau", topcdf.tau}};
  fgattn::TopCdfPredictor predictor;
  predictor.predict(qv, kv, topcdf);  // warm-up: allocates the workspace
  check(cudaDeviceSynchronize(), "warm-up");
  std::vector<double> device_ms, queued_ms, attention_ms;
  for (int rep = 0; rep < 11; ++rep) {  // L2 flushed before each timed region, as time_ms does
    dense_once();
    device_ms.push_back(time_once([&] { predictor.predict(qv, kv, topcdf); }));
    // The same prediction queued behind GPU work (here: one more prediction), as in a pipeline whose host enqueues
    // ahead of the GPU: the events then time the GPU's work alone, without the host's enqueue of ~8 launches.
    fgattn::bench::l2_flush()();
    predictor.predict(qv, kv, topcdf);
    timer.start();
    predictor.predict(qv, kv, topcdf);
    queued_ms.push_back(timer.milliseconds());
    attention_ms.push_back(time_once([&] { fgattn::attention(qv, kv, vv, predictor.plan(), ov, nullptr); }));
  }
  // The same prediction replayed from a CUDA graph (as pipelines under CUDA graphs run it): the launches go
  // back to back without per-launch host work. A capture failure is reported and leaves the record out.
  std::vector<double> graph_ms;
  try {
    cudaStream_t stream;
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture");
    predictor.predict(qv, kv, topcdf, stream);
    check(cudaStreamEndCapture(stream, &graph), "capture");
    check(cudaGraphInstantiate(&exec, graph, 0), "graph");
    check(cudaGraphLaunch(exec, stream), "graph");  // warm-up
    check(cudaStreamSynchronize(stream), "graph");
    fgattn::EventTimer graph_timer(stream);
    for (int rep = 0; rep < 11; ++rep) {
      fgattn::bench::l2_flush()();
      check(cudaDeviceSynchronize(), "flush");
      graph_timer.start();
      check(cudaGraphLaunch(exec, stream), "graph");
      graph_ms.push_back(graph_timer.milliseconds());
    }
    cudaGraphExecDestroy(exec), cudaGraphDestroy(graph), cudaStreamDestroy(stream);
  } catch (const std::exception& e) {
    std::cerr << "Top-CDF under a CUDA graph: " << e.what() << " (record left out)\n";
    graph_ms.clear();
    cudaGetLastError();
  }
  const double topcdf_dense_ms = take_paired_dense();
  const fgattn::DevicePlan& device_plan = predictor.finish();
  const double topcdf_density = static_cast<double>(device_plan.nnz) / (static_cast<double>(device_plan.rows) * static_cast<double>(device_plan.seq_kv));
  nlohmann::json device_extra = topcdf_extra;
  device_extra.update({{"output", "device"}, {"timing", "CUDA events around TopCdfPredictor::predict (warm workspace)"},
                       {"workspace_bytes", predictor.workspace_bytes()}});
  record("predict/topcdf", median(device_ms), topcdf_dense_ms, topcdf_density, device_extra);
  nlohmann::json queued_extra = topcdf_extra;
  queued_extra.update({{"output", "device"},
                       {"timing", "CUDA events around a warm TopCdfPredictor::predict queued behind another predict() "
                                  "(the host enqueues ahead, as in a pipeline; no L2 flush: the previous prediction's "
                                  "plan, not Q or K, fills the L2)"}});
  record("predict/topcdf-queued", median(queued_ms), topcdf_dense_ms, topcdf_density, queued_extra);
  if (!graph_ms.empty()) {
    nlohmann::json graph_extra = topcdf_extra;
    graph_extra.update({{"output", "device"},
                        {"timing", "CUDA events around one launch of a CUDA graph captured from a warm "
                                   "TopCdfPredictor::predict (L2 flushed before each)"}});
    record("predict/topcdf-graph", median(graph_ms), topcdf_dense_ms, topcdf_density, graph_extra);
  }
  nlohmann::json attention_extra = topcdf_extra;
  attention_extra.update({{"plan", "predict/topcdf"}, {"output", "device"}});
  record("attention/topcdf-plan", median(attention_ms), topcdf_dense_ms, topcdf_density, attention_extra);

  // The host-Plan API: wall time including the copy of the plan to the host and its validation.
  std::vector<double> host_ms;
  for (int rep = 0; rep < 6; ++rep) {
    const auto begin = std::chrono::steady_clock::now();
    const fgattn::Prediction p = fgattn::topcdf_plan_cuda(qv, kv, topcdf);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
    if (rep >= 1) host_ms.push_back(ms);
  }
  nlohmann::json host_extra = topcdf_extra;
  host_extra.update({{"output", "host"}, {"timing", "wall clock of topcdf_plan_cuda, download and validation included"}});
  record("predict/topcdf", median(host_ms), topcdf_dense_ms, topcdf_density, host_extra);

  const std::string text = records.dump(2) + "\n";
  if (out_path.empty()) std::cout << text;
  else std::ofstream(out_path) << text;
  return 0;
} catch (const std::exception& e) {
  std::cerr << "fgattn_bench_predict: error: " << e.what() << "\n";
  return 1;
}
