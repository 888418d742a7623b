// The timed frontier on the GPU: per point an oracle plan built on the device by an OraclePredictor (text tokens
// included) and run there as it is, timed with CUDA events (median after warm-up, output poisoned before), and its
// output compared with the same kernel's dense output at the same M, all heads. The dense kernel's own rounding is
// measured once against the double reference. Plans never visit the host: at 720p one holds up to ~5 * 10^8 keys.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "analysis/frontier_error.h"
#include "fgattn/attention.h"
#include "fgattn/cuda.h"
#include "fgattn/cuda_timing.h"
#include "fgattn/error.h"
#include "fgattn/frontier.h"
#include "fgattn/predict_cuda.h"

namespace fgattn {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error("frontier", fmt::format("{}: {}", what, cudaGetErrorString(e)));
}

struct DeviceMemory {
  void* ptr = nullptr;
  explicit DeviceMemory(std::size_t bytes) { check(cudaMalloc(&ptr, std::max<std::size_t>(bytes, 16)), "cudaMalloc"); }
  ~DeviceMemory() { cudaFree(ptr); }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
};

// A packed BSHD host copy of any view (host or device) in `dtype`.
HostTensor packed_host_copy(const TensorView& t, DType dtype) {
  TensorView src = t;
  HostTensor staged;
  if (t.device == Device::cuda) {  // device views are downloaded as they are laid out, then repacked
    std::int64_t extent = 1;
    for (int d = 0; d < 4; ++d) extent += (t.shape[static_cast<std::size_t>(d)] - 1) * t.strides[static_cast<std::size_t>(d)];
    staged.bytes.resize(static_cast<std::size_t>(extent) * dtype_size(t.dtype));
    check(cudaMemcpy(staged.bytes.data(), t.data, staged.bytes.size(), cudaMemcpyDeviceToHost), "download input");
    src.data = staged.bytes.data();
    src.device = Device::cpu;
  }
  HostTensor r = HostTensor::zeros(dtype, Layout::BSHD, t.shape[0], t.shape[1], t.shape[2], t.shape[3]);
  TensorView dst = r.view();
  for (std::int64_t b = 0; b < t.shape[0]; ++b)
    for (std::int64_t s = 0; s < t.shape[1]; ++s)
      for (std::int64_t h = 0; h < t.shape[2]; ++h)
        for (std::int64_t d = 0; d < t.shape[3]; ++d)
          store_from_float(dst.data, dtype, dst.offset(b, s, h, d), load_as_float(src.data, src.dtype, src.offset(b, s, h, d)));
  return r;
}

// The inputs on the device, packed BSHD in the kernel dtype, and their host copies (for the double reference).
struct DeviceQkv {
  HostTensor host_q, host_k, host_v;
  DeviceMemory q, k, v, out;
  DType dtype;
  DeviceQkv(const TensorView& q_in, const TensorView& k_in, const TensorView& v_in, DType dt)
      : host_q(packed_host_copy(q_in, dt)), host_k(packed_host_copy(k_in, dt)), host_v(packed_host_copy(v_in, dt)),
        q(host_q.bytes.size()), k(host_k.bytes.size()), v(host_v.bytes.size()), out(host_q.bytes.size()), dtype(dt) {
    check(cudaMemcpy(q.ptr, host_q.bytes.data(), host_q.bytes.size(), cudaMemcpyHostToDevice), "upload q");
    check(cudaMemcpy(k.ptr, host_k.bytes.data(), host_k.bytes.size(), cudaMemcpyHostToDevice), "upload k");
    check(cudaMemcpy(v.ptr, host_v.bytes.data(), host_v.bytes.size(), cudaMemcpyHostToDevice), "upload v");
  }
  static TensorView on_device(const HostTensor& t, void* p) {
    TensorView view = t.view();
    view.data = p;
    view.device = Device::cuda;
    return view;
  }
  TensorView qv() const { return on_device(host_q, q.ptr); }
  TensorView kv() const { return on_device(host_k, k.ptr); }
  TensorView vv() const { return on_device(host_v, v.ptr); }
  TensorView ov() const { return on_device(host_q, out.ptr); }
};

// Median kernel time of one plan; leaves the plan's output in qkv.out, checked finite (it was poisoned with NaN).
double time_plan(const DeviceQkv& qkv, const DevicePlan& plan, const FrontierOptions& options) {
  check(cudaMemset(qkv.out.ptr, 0xFF, qkv.host_q.bytes.size()), "poison output");
  return time_launches(options.reps, options.warmup, [] {},
                       [&] { attention(qkv.qv(), qkv.kv(), qkv.vv(), plan, qkv.ov(), nullptr); })
      .median_ms;
}

std::vector<float> download_output(const DeviceQkv& qkv) {
  std::vector<std::byte> raw(qkv.host_q.bytes.size());
  check(cudaMemcpy(raw.data(), qkv.out.ptr, raw.size(), cudaMemcpyDeviceToHost), "download output");
  std::vector<float> out(static_cast<std::size_t>(qkv.host_q.numel()));
  std::int64_t nonfinite = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = load_as_float(raw.data(), qkv.dtype, static_cast<std::int64_t>(i));
    nonfinite += !std::isfinite(out[i]);
  }
  if (nonfinite > 0) throw Error("frontier", fmt::format("the kernel left {} non-finite outputs", nonfinite));
  return out;
}

// The dense kernel output against the double reference on three query blocks of (b = 0, h = 0): the rounding
// floor under which frontier errors are noise.
double dense_rounding_error(const DeviceQkv& qkv, const std::vector<float>& dense, int block_m, int threads) {
  const std::int64_t Sq = qkv.host_q.shape[1], H = qkv.host_q.shape[2], D = qkv.host_q.shape[3], Skv = qkv.host_k.shape[1];
  const std::int64_t nqb = (Sq + block_m - 1) / block_m;
  std::vector<std::int64_t> rows;
  for (std::int64_t qb : {std::int64_t{0}, nqb / 2, nqb - 1})
    for (std::int64_t s = qb * block_m; s < std::min(Sq, (qb + 1) * block_m); ++s)
      if (rows.empty() || s > rows.back()) rows.push_back(s);
  const auto n = static_cast<std::int64_t>(rows.size());
  HostTensor q = HostTensor::zeros(DType::f32, Layout::BSHD, 1, n, 1, D), k = HostTensor::zeros(DType::f32, Layout::BSHD, 1, Skv, 1, D);
  HostTensor v = HostTensor::zeros(DType::f32, Layout::BSHD, 1, Skv, 1, D), out = HostTensor::zeros(DType::f32, Layout::BSHD, 1, n, 1, D);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t d = 0; d < D; ++d) q.set(0, i, 0, d, qkv.host_q.at(0, rows[static_cast<std::size_t>(i)], 0, d));
  for (std::int64_t j = 0; j < Skv; ++j)
    for (std::int64_t d = 0; d < D; ++d) k.set(0, j, 0, d, qkv.host_k.at(0, j, 0, d)), v.set(0, j, 0, d, qkv.host_v.at(0, j, 0, d));
  AttentionOptions options;
  options.num_threads = threads;
  // Small CPU query blocks only so the rows spread over threads; the plan is dense either way.
  attention(q.view(), k.view(), v.view(), dense_plan(1, 1, n, Skv, 16), out.view(), nullptr, options);
  std::vector<float> kernel(static_cast<std::size_t>(n * D)), reference(kernel.size());
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t d = 0; d < D; ++d) {
      const auto at = static_cast<std::size_t>(i * D + d);
      kernel[at] = dense[static_cast<std::size_t>((rows[static_cast<std::size_t>(i)] * H) * D + d)];  // BSHD, b = 0, h = 0
      reference[at] = out.at(0, i, 0, d);
    }
  return analysis::output_error(kernel, reference).rel_l2;
}

}  // namespace

bool frontier_can_time() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

FrontierReport frontier_cuda(const TensorView& q_in, const TensorView& k_in, const TensorView& v_in,
                             const FrontierOptions& options) {
  validate_frontier_options(options, q_in.seq());
  if (!frontier_can_time()) throw Error("frontier", "timing needs a CUDA device and none is visible");
  // Host inputs run in bf16 (the kernel's dtype for video DiTs); device inputs keep theirs (bf16 or f16).
  const DType dtype = q_in.device == Device::cuda ? q_in.dtype : DType::bf16;
  if (dtype == DType::f32) throw Error("q", "the CUDA kernel takes bf16 or f16 device tensors, got f32");
  auto progress = [&](const std::string& stage, double f) {
    if (options.progress) options.progress(stage, f);
  };
  progress("upload", 0.0);
  const DeviceQkv qkv(q_in, k_in, v_in, dtype);
  const std::int64_t B = qkv.host_q.shape[0], Sq = qkv.host_q.shape[1], H = qkv.host_q.shape[2], Skv = qkv.host_k.shape[1];

  FrontierReport report;
  report.backend = "cuda";
  report.error_reference = fmt::format(
      "the same kernel's dense plan at the same M ({} output, fp32 accumulation), all heads; dense_vs_double_rel_l2 is "
      "that dense output against the double CPU reference on 3 query blocks of head 0", dtype_name(dtype));
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "device properties");
  report.device = prop.name;
  report.shape = qkv.host_q.shape;
  report.text_tokens = options.text_tokens;

  std::vector<int> ms_order;  // block sizes in order of first appearance: one dense reference in memory at a time
  for (const auto& s : options.series)
    if (std::find(ms_order.begin(), ms_order.end(), s.block_m) == ms_order.end()) ms_order.push_back(s.block_m);
  const double total = static_cast<double>(options.series.size() * options.tau_factors.size());
  double done = 0;
  OraclePredictor predictor;  // its workspace and plan are reused by every point
  for (int M : ms_order) {
    progress(fmt::format("dense M={}", M), done / total);
    const double dense_ms = time_plan(qkv, DevicePlan::upload(dense_plan(B, H, Sq, Skv, M)), options);
    const std::vector<float> dense = download_output(qkv);
    report.points.push_back({"dense", M, static_cast<int>(Skv), 0.0, 0.0, 1.0, dense_ms, 0.0, std::nullopt});
    if (!report.dense_vs_double_rel_l2) report.dense_vs_double_rel_l2 = dense_rounding_error(qkv, dense, M, options.num_threads);
    for (const auto& s : options.series) {
      if (s.block_m != M) continue;
      for (double factor : options.tau_factors) {
        progress(fmt::format("sweep {}", s.name()), done++ / total);
        OracleOptions oracle;
        oracle.block_m = s.block_m;
        oracle.block_n = s.block_n;
        oracle.tau = factor / static_cast<double>(Skv);
        oracle.text_tokens = options.text_tokens;
        predictor.predict(qkv.qv(), qkv.kv(), oracle);
        const DevicePlan& plan = predictor.finish();
        const double density = static_cast<double>(plan.nnz) / (static_cast<double>(plan.rows) * static_cast<double>(Skv));
        const double ms = time_plan(qkv, plan, options);
        const analysis::OutputError e = analysis::output_error(download_output(qkv), dense);
        report.points.push_back({s.name(), s.block_m, s.block_n, oracle.tau, factor, density, ms, e.rel_l2, e.psnr_db});
        if (e.rel_l2 > options.max_error) break;  // sparser plans only add useless points
      }
    }
  }
  summarize_frontier(report, options.target_errors);
  progress("done", 1.0);
  return report;
}

}  // namespace fgattn
