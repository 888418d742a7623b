#pragma once
// Plain parameters and launchers of the GPU Top-CDF predictor (framework-free).
// Pass 1 (pool_tokens): mean of each `pool`-token block of Q and of K, and whether its tokens are self-similar.
// Pass 2 (topcdf_bits): per query pool, softmax over the pooled keys and the smallest set of key pools whose
//   mass reaches tau, united over the query block's pools into its per-key bits (bits_to_plan compacts them).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cuda/predict/oracle_params.h"

namespace fgattn::cuda {

struct PoolParams {
  const void* x = nullptr;     // (B, S, H, D) with strides below
  std::int64_t stride[3]{};    // b, s, h in elements
  int batch = 0, heads = 0, seq = 0, head_dim = 0, pool = 16;
  ElementType element = ElementType::bf16;
  float sim_threshold = 0.5f;
  float* means = nullptr;         // (B * H, ceil(seq / pool), D)
  std::uint8_t* similar = nullptr;  // (B * H, ceil(seq / pool))
};

struct TopCdfBitsParams {
  const float* q_means = nullptr;
  const std::uint8_t* q_similar = nullptr;
  const float* k_means = nullptr;
  const std::uint8_t* k_similar = nullptr;
  int batch_heads = 0, seq_q = 0, seq_kv = 0, head_dim = 0, pool = 16, block_m = 128;
  float scale = 0.f;  // softmax scale (natural base)
  float tau = 0.9f;
  std::uint64_t* bits = nullptr;  // (B * H * nQB, ceil(seq_kv / 64)), every word written
};

// Dynamic shared memory of one topcdf_bits CTA (the host refuses shapes past the device's limit).
std::size_t topcdf_smem_bytes(int block_m, int pool, int seq_kv);

cudaError_t launch_pool_tokens(const PoolParams& p, cudaStream_t stream);
cudaError_t launch_topcdf_bits(const TopCdfBitsParams& p, cudaStream_t stream);

}  // namespace fgattn::cuda
