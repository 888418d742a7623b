// The PyTorch binding: torch.ops.fgattn.* over the public C++ API (include/fgattn/). Thin on purpose: it turns
// tensors into fgattn::TensorView / fgattn::Plan (convert.h), calls the library (which validates and dispatches to
// the CPU reference or the CUDA kernel) and turns fgattn::Error into a Python ValueError with the same text. This
// file holds the schemas and their registration; the implementations are ops_cpu.cpp (CPU dispatch key),
// ops_cuda.cpp (CUDA key) and ops_host.cpp (ops without tensor inputs). No kernel header is included (docs/style.md).
//
// Schema (documented in python/README.md):
//   fgattn::attention(Tensor q, Tensor k, Tensor v, Tensor offsets, Tensor indices, int block_m,
//                     float? scale=None, bool return_lse=False) -> (Tensor out, Tensor lse)
//   q: [B, Sq, H, D], k and v: [B, Skv, H, D] logical shapes with any strides whose last one is 1 (a [B, H, S, D]
//   tensor is passed as t.transpose(1, 2)); offsets int64 [B*H*ceil(Sq/block_m) + 1], indices int32 [nnz]: the
//   plan's CSR (docs/design.md). out: like q (empty_like, so a BHSD-strided q gives a BHSD-strided out).
//   lse: fp32 [B, H, Sq] (natural log) when return_lse, else an empty fp32 tensor of shape [0].
//   fgattn::oracle_plan(Tensor q, Tensor k, int block_m, float? tau=None, Tensor? lse=None)
//     -> (Tensor offsets, Tensor indices)   the library's oracle: keep key j for block i iff max_{q in i} P[q, j] > tau
//     (0.5/Skv). CPU: exact, in double (lse must be None). CUDA: the tensor-core OraclePredictor; with lse (attention's
//     fp32 [B, H, Sq] LSE at the default scale, on q's device) only its bits pass runs (predict_from_lse).
//   fgattn::topcdf_plan(Tensor q, Tensor k, int block_m, int pool, float tau, float sim_threshold)
//     -> (Tensor offsets, Tensor indices)   pooled-block Top-CDF with the self-similarity guard (CPU, or CUDA:
//     TopCdfPredictor)
//   The plan ops return the CSR on the inputs' device: a GPU predictor's plan stays on the GPU, where attention() runs
//   it as it is (its row order is kept in the op's plan cache); attention() takes CPU plans too (uploaded once).
//   fgattn::built_with_cuda() -> bool   whether CUDA tensors run the kernel and the GPU predictors
//   fgattn::validate_plan(Tensor offsets, Tensor indices, int batch, int heads, int seq_q, int seq_kv, int block_m)
//     -> ()   the library's CSR check where the tensors are (fgattn::validate_csr on the CPU, validate_csr_cuda on
//     the GPU: only a broken row is copied to the host); a ValueError names the first broken row and rule
//   fgattn::set_plan_cache_budget(int megabytes) -> ()   device memory the op may keep uploaded plans in (0 = a
//     quarter of the device's memory, the default); least recently used plans beyond it are dropped
//   fgattn::load_plan(str path) -> (Tensor offsets, Tensor indices, int[] sizes)   sizes = [B, H, Sq, Skv, block_m]
//   fgattn::save_plan(str path, Tensor offsets, Tensor indices, int[] sizes) -> ()  the C++ plan file format
//   fgattn::workload(int frames, int height, int width, int heads, int head_dim, int text_tokens=0, int seed=1)
//     -> (Tensor q, Tensor k, Tensor v)   the video-like generator (docs/workload.md): fp32 [1, S, H, D] on the CPU
#include <torch/library.h>

#include "ops.h"

TORCH_LIBRARY(fgattn, m) {
  m.def("attention(Tensor q, Tensor k, Tensor v, Tensor offsets, Tensor indices, int block_m, float? scale=None, "
        "bool return_lse=False) -> (Tensor out, Tensor lse)");
  m.def("oracle_plan(Tensor q, Tensor k, int block_m, float? tau=None, Tensor? lse=None) -> "
        "(Tensor offsets, Tensor indices)");
  m.def("topcdf_plan(Tensor q, Tensor k, int block_m, int pool, float tau, float sim_threshold) -> "
        "(Tensor offsets, Tensor indices)");
  m.def("built_with_cuda() -> bool", &fgattn_torch::built_with_cuda);
  m.def("validate_plan(Tensor offsets, Tensor indices, int batch, int heads, int seq_q, int seq_kv, int block_m) -> ()",
        &fgattn_torch::validate_plan);
  m.def("set_plan_cache_budget(int megabytes) -> ()", &fgattn_torch::set_plan_cache_budget);
  m.def("load_plan(str path) -> (Tensor offsets, Tensor indices, int[] sizes)", &fgattn_torch::load_plan);
  m.def("save_plan(str path, Tensor offsets, Tensor indices, int[] sizes) -> ()", &fgattn_torch::save_plan);
  m.def("workload(int frames, int height, int width, int heads, int head_dim, int text_tokens=0, int seed=1) -> "
        "(Tensor q, Tensor k, Tensor v)", &fgattn_torch::workload);
}

TORCH_LIBRARY_IMPL(fgattn, CPU, m) {
  m.impl("attention", &fgattn_torch::attention_cpu);
  m.impl("oracle_plan", &fgattn_torch::oracle_plan_cpu);
  m.impl("topcdf_plan", &fgattn_torch::topcdf_plan_cpu);
}
TORCH_LIBRARY_IMPL(fgattn, CUDA, m) {
  m.impl("attention", &fgattn_torch::attention_cuda);
  m.impl("oracle_plan", &fgattn_torch::oracle_plan_cuda);
  m.impl("topcdf_plan", &fgattn_torch::topcdf_plan_cuda);
}
