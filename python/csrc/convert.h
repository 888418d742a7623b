#pragma once
// Tensors to the C++ API's types and back, with the op's argument checks (TORCH_CHECK_* errors name the argument).
#include <ATen/ATen.h>

#include <optional>
#include <tuple>

#include "fgattn/dtype.h"
#include "fgattn/plan.h"
#include "fgattn/predict.h"
#include "fgattn/tensor.h"

namespace fgattn_torch {

// A view of a 4-D tensor in the logical [B, S, H, D] shape (any strides; fgattn validates the rest).
fgattn::TensorView to_view(const at::Tensor& t, const char* name);

// The plan's sizes from q [B, Sq, H, D], k [B, Skv, H, D] and block_m, after checking the CSR tensors' dtypes, ranks
// and the offsets' length. The CSR itself is not read (see to_plan).
fgattn::Plan plan_sizes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& offsets, const at::Tensor& indices,
                        int64_t block_m);

// The library's host check (fgattn::validate_csr) of CSR tensors (offsets int64, indices int32; CUDA ones are copied
// to the host) for a plan of `sizes`; throws fgattn::Error naming the first broken row and rule.
void validate_plan_on_host(const fgattn::Plan& sizes, const at::Tensor& offsets, const at::Tensor& indices);

// `sizes` with the CSR copied in (a device -> host copy only for CUDA plan tensors).
fgattn::Plan with_csr(fgattn::Plan sizes, const at::Tensor& offsets, const at::Tensor& indices);

// plan_sizes plus the CSR: the whole plan on the host.
fgattn::Plan to_plan(const at::Tensor& q, const at::Tensor& k, const at::Tensor& offsets, const at::Tensor& indices,
                     int64_t block_m);

// The CSR of `plan` as CPU tensors: offsets int64 [rows + 1], indices int32 [nnz].
std::tuple<at::Tensor, at::Tensor> plan_tensors(const fgattn::Plan& plan);

// An output like q (empty_like keeps q's strides when q is dense: BSHD stays BSHD, BHSD-strided stays BHSD) and the
// fp32 LSE [B, H, Sq] on q's device, or an empty [0] tensor without return_lse.
std::tuple<at::Tensor, at::Tensor> empty_out_and_lse(const at::Tensor& q, bool return_lse);

// An int64 argument (a block size, a pool) narrowed to the library's int only when it lies in [1, 2^20], so that
// 2^32 + 64 is refused rather than read as 64; the error names `op` and `name`.
int checked_int(int64_t value, const char* op, const char* name);

// The predictors' options from the plan ops' arguments (tau None: the oracle's default 0.5 / Skv); block_m and pool
// must lie in [1, 2^20] (the library checks the rest).
fgattn::OracleOptions oracle_options(int64_t block_m, std::optional<double> tau);
fgattn::TopCdfOptions topcdf_options(int64_t block_m, int64_t pool, double tau, double sim_threshold);

}  // namespace fgattn_torch
