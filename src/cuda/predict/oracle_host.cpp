// Host side of the GPU oracle: argument checks, scratch buffers and the three passes.
#include <fmt/format.h>

#include <cmath>

#include "cuda/predict/predict_host.h"
#include "fgattn/error.h"
#include "fgattn/predict_cuda.h"

namespace fgattn {

Prediction oracle_plan_cuda(const TensorView& q, const TensorView& k, const OracleOptions& options) {
  using namespace fgattn::cuda;
  check_predictor_operands(q, k);
  check_block_m(options.block_m);
  const int n = options.block_n;
  if (!(n >= 1 && ((n <= 64 && 64 % n == 0) || n % 64 == 0)))
    throw Error("block_n", fmt::format("{} must divide 64 or be a multiple of 64", n));

  Plan plan = plan_with_sizes(q.batch(), q.heads(), q.seq(), k.seq(), options.block_m);
  const std::int64_t words = (plan.seq_kv + 63) / 64;
  const double tau = options.tau >= 0 ? options.tau : 0.5 / static_cast<double>(plan.seq_kv);
  auto lse2 = device_alloc<float>(static_cast<std::size_t>(q.batch() * q.heads() * q.seq()), "lse");
  auto bits = device_alloc<std::uint64_t>(static_cast<std::size_t>(plan.rows() * words), "bits");

  GpuTimer timer;
  QkParams qk;
  qk.q = q.data;
  qk.k = k.data;
  for (int i = 0; i < 3; ++i) {
    qk.q_stride[i] = q.strides[i];
    qk.k_stride[i] = k.strides[i];
  }
  qk.batch = static_cast<int>(q.batch());
  qk.heads = static_cast<int>(q.heads());
  qk.seq_q = static_cast<int>(q.seq());
  qk.seq_kv = static_cast<int>(k.seq());
  qk.head_dim = static_cast<int>(q.head_dim());
  qk.scale_log2 = static_cast<float>(1.0 / std::sqrt(static_cast<double>(q.head_dim())) * M_LOG2E);
  qk.element = element_type(q);
  check_cuda(launch_row_lse({qk, lse2.get()}, nullptr), "row_lse");
  check_cuda(launch_oracle_bits({qk, lse2.get(), static_cast<float>(tau), options.block_m, bits.get()}, nullptr), "oracle_bits");
  bits_to_host_plan(bits.get(), n, plan, timer);
  const double seconds = timer.seconds();

  const std::string granularity = n == 1 ? "Mx1" : n == options.block_m ? "MxM" : fmt::format("Mx{}", n);
  Prediction prediction{std::move(plan), {"oracle", granularity, tau, 0.0, seconds}};
  prediction.report.density = prediction.plan.density();
  return prediction;
}

}  // namespace fgattn
