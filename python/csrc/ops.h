#pragma once
// The op implementations behind torch.ops.fgattn.* (schemas and registration: fgattn_ops.cpp).
#include <ATen/ATen.h>
#include <c10/util/string_view.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "fgattn/plan.h"

namespace fgattn_torch {

using PlanTensors = std::tuple<at::Tensor, at::Tensor>;  // offsets int64 [rows + 1], indices int32 [nnz] (CPU)

// ops_cpu.cpp: the CPU dispatch key (the reference attention, the exact oracle in double, Top-CDF).
std::tuple<at::Tensor, at::Tensor> attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                 const at::Tensor& offsets, const at::Tensor& indices, int64_t block_m,
                                                 std::optional<double> scale, bool return_lse);
PlanTensors oracle_plan_cpu(const at::Tensor& q, const at::Tensor& k, int64_t block_m, std::optional<double> tau,
                            const std::optional<at::Tensor>& lse);
PlanTensors topcdf_plan_cpu(const at::Tensor& q, const at::Tensor& k, int64_t block_m, int64_t pool, double tau,
                            double sim_threshold);

// ops_cuda.cpp: the CUDA dispatch key (the sm_90a kernel, the GPU predictors), on torch's current stream. Without
// FGATTN_WITH_CUDA they raise "built without CUDA".
std::tuple<at::Tensor, at::Tensor> attention_cuda(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                  const at::Tensor& offsets, const at::Tensor& indices,
                                                  int64_t block_m, std::optional<double> scale, bool return_lse);
PlanTensors oracle_plan_cuda(const at::Tensor& q, const at::Tensor& k, int64_t block_m, std::optional<double> tau,
                             const std::optional<at::Tensor>& lse);
PlanTensors topcdf_plan_cuda(const at::Tensor& q, const at::Tensor& k, int64_t block_m, int64_t pool, double tau,
                             double sim_threshold);
bool built_with_cuda();
// The op's cache of device plans: its device-memory budget in bytes (0: a quarter of the device's memory). Without
// CUDA there is no cache and this does nothing.
void set_device_plan_budget(std::size_t bytes);
// The library's device CSR check (validate_csr_cuda) of CUDA plan tensors on their device and torch's current
// stream; throws fgattn::Error. Without CUDA: the host check (validate_plan_on_host, convert.h).
void validate_plan_on_device(const fgattn::Plan& sizes, const at::Tensor& offsets, const at::Tensor& indices);

// ops_host.cpp: ops without tensor inputs to dispatch on (plan files, the generator, the plan cache's budget), and
// the library's plan check, run where the plan's tensors are.
void validate_plan(const at::Tensor& offsets, const at::Tensor& indices, int64_t batch, int64_t heads, int64_t seq_q,
                   int64_t seq_kv, int64_t block_m);
void set_plan_cache_budget(int64_t megabytes);
std::tuple<at::Tensor, at::Tensor, std::vector<int64_t>> load_plan(c10::string_view path);
void save_plan(c10::string_view path, const at::Tensor& offsets, const at::Tensor& indices, at::IntArrayRef sizes);
std::tuple<at::Tensor, at::Tensor, at::Tensor> workload(int64_t frames, int64_t height, int64_t width, int64_t heads,
                                                        int64_t head_dim, int64_t text_tokens, int64_t seed);

}  // namespace fgattn_torch
