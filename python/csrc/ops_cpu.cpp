// The CPU dispatch key: the library's reference attention and CPU predictors (ops.h).
#include <torch/library.h>

#include "convert.h"
#include "fgattn/attention.h"
#include "fgattn/error.h"
#include "fgattn/predict.h"
#include "message.h"
#include "ops.h"

namespace fgattn_torch {

std::tuple<at::Tensor, at::Tensor> attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                 const at::Tensor& offsets, const at::Tensor& indices, int64_t block_m,
                                                 std::optional<double> scale, bool return_lse) {
  TORCH_CHECK_VALUE(q.is_cpu() && k.is_cpu() && v.is_cpu(),
                    message("fgattn.attention: q, k and v must all be on the CPU, got ", q.device(), ", ", k.device(),
                            ", ", v.device()));
  const fgattn::TensorView qv = to_view(q, "q"), kv = to_view(k, "k"), vv = to_view(v, "v");
  auto [out, lse] = empty_out_and_lse(q, return_lse);
  try {
    const fgattn::Plan plan = to_plan(q, k, offsets, indices, block_m);
    fgattn::AttentionOptions options;
    options.scale = scale;
    fgattn::attention(qv, kv, vv, plan, to_view(out, "out"), return_lse ? lse.data_ptr<float>() : nullptr, options);
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, message("fgattn.attention: ", e.what()));
  }
  return {out, lse};
}

PlanTensors oracle_plan_cpu(const at::Tensor& q, const at::Tensor& k, int64_t block_m, std::optional<double> tau,
                            const std::optional<at::Tensor>& lse) {
  TORCH_CHECK_VALUE(q.is_cpu() && k.is_cpu(), "fgattn.oracle_plan: q and k must be CPU tensors");
  TORCH_CHECK_VALUE(!lse.has_value(),
                    "fgattn.oracle_plan: lse is taken on CUDA only (the CPU oracle computes the exact LSE itself "
                    "in double; fgattn.oracle_plan(..., lse=) in Python covers the CPU)");
  try {
    const fgattn::OracleOptions options = oracle_options(block_m, tau);
    return plan_tensors(fgattn::oracle_plan(to_view(q, "q"), to_view(k, "k"), options).plan);
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, message("fgattn.oracle_plan: ", e.what()));
  }
}

PlanTensors topcdf_plan_cpu(const at::Tensor& q, const at::Tensor& k, int64_t block_m, int64_t pool, double tau,
                            double sim_threshold) {
  TORCH_CHECK_VALUE(q.is_cpu() && k.is_cpu(), "fgattn.topcdf_plan: q and k must be CPU tensors");
  try {
    const fgattn::TopCdfOptions options = topcdf_options(block_m, pool, tau, sim_threshold);
    return plan_tensors(fgattn::topcdf_plan(to_view(q, "q"), to_view(k, "k"), options).plan);
  } catch (const fgattn::Error& e) {
    TORCH_CHECK_VALUE(false, message("fgattn.topcdf_plan: ", e.what()));
  }
}

}  // namespace fgattn_torch
