#pragma once
// Plain parameters and launchers of the GPU Top-CDF predictor (framework-free). Four passes, no host sync:
//   pool_means:     mean of every `pool`-token block of Q and of K (one launch for both), split into bf16 hi + lo
//                   (16 significant bits, full fp32 range) for the tensor cores, and whether it is self-similar
//                   (and, for K, free of a norm outlier: TopCdfOptions::outlier_ratio).
//   pooled_logits:  per (b, h) the [query pools x key pools] logits with mma.sync m16n8k16 in three products
//                   (hi*hi + hi*lo + lo*hi: relative error ~2^-16 against fp32's 2^-24), written to a workspace.
//   topcdf_cut:     per plan row (b, h, query block) and query pool, softmax over the key pools and the smallest
//                   set reaching tau, found without a sort; the union over the block's pools -> pool bits + count.
//   pools_to_plan:  CUB scan of the counts -> CSR offsets, expansion of kept pools to keys; then the row schedule
//                   (schedule_rows_cuda, fgattn/plan_cuda.h) orders the rows for the attention kernel.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cuda/predict/oracle_params.h"

namespace fgattn::cuda {

struct PoolSide {
  const void* x = nullptr;   // (B, S, H, D) with strides below
  std::int64_t stride[3]{};  // b, s, h in elements
  int seq = 0;
  std::uint16_t* hi = nullptr;  // (B * H, pools, D): bf16(mean)
  std::uint16_t* lo = nullptr;  // (B * H, pools, D): bf16(mean - hi)
  std::uint8_t* similar = nullptr;  // (B * H, pools)
};

struct PoolMeansParams {
  PoolSide q, k;
  int batch = 0, heads = 0, head_dim = 0, pool = 16;
  ElementType element = ElementType::bf16;
  float sim_threshold = 0.5f;
  float outlier_ratio = 1.5f;  // keys only: a pool whose largest token norm exceeds this x its mean token norm is kept
};

struct PooledLogitsParams {
  const std::uint16_t *q_hi = nullptr, *q_lo = nullptr, *k_hi = nullptr, *k_lo = nullptr;  // bf16 bits
  int q_pools = 0, k_pools = 0, head_dim = 0;
  int bh_begin = 0, bh_count = 0;  // the (b, h) slice of this launch: logits hold bh_count heads
  float scale_log2 = 0.f;          // softmax scale * log2(e): logits are stored in base 2
  float* logits = nullptr;         // (bh_count, q_pools, logit_stride)
  std::int64_t logit_stride = 0;   // k_pools rounded up to kLogitColumnAlign
};
constexpr int kLogitColumnAlign = 64;  // the GEMM's key tile: whole tiles are stored, columns past k_pools ignored

struct TopCdfCutParams {
  const float* logits = nullptr;  // as PooledLogitsParams, for heads [bh_begin, bh_begin + bh_count)
  std::int64_t logit_stride = 0;
  const std::uint8_t* q_similar = nullptr;
  const std::uint8_t* k_similar = nullptr;
  int bh_begin = 0, bh_count = 0;
  int seq_q = 0, seq_kv = 0, pool = 16, block_m = 128, q_pools = 0, k_pools = 0;
  float tau = 0.9f;
  std::uint32_t* pool_bits = nullptr;  // (rows, pool_words): kept key pools of each plan row
  int pool_words = 0;                  // ceil(k_pools / 32)
  std::int64_t* offsets = nullptr;     // offsets[row + 1] = the row's key count (scanned later); offsets[0] = 0
};

struct PoolsToPlanParams {
  const std::uint32_t* pool_bits = nullptr;
  int pool_words = 0, k_pools = 0, pool = 16, seq_kv = 0;
  std::int64_t rows = 0;
  const std::int64_t* offsets = nullptr;  // scanned
  std::int32_t* indices = nullptr;
};

// Largest key-pool count the cut holds in registers (32 lanes x 160): 81,920 keys in pools of 16.
constexpr int kMaxKeyPools = 32 * 160;

cudaError_t launch_pool_means(const PoolMeansParams& p, cudaStream_t stream);
cudaError_t launch_pooled_logits(const PooledLogitsParams& p, cudaStream_t stream);
cudaError_t launch_topcdf_cut(const TopCdfCutParams& p, cudaStream_t stream);
cudaError_t launch_pools_to_plan(const PoolsToPlanParams& p, cudaStream_t stream);

// scan_offsets (oracle_params.h) and the row schedule (PlanFinish, device_workspace.h) finish the plan.

}  // namespace fgattn::cuda
