#pragma once
// Plain parameters of the sparse attention forward (docs/design.md, layer 1: raw pointers, int64 strides,
// sizes).
// The kernel runs one (batch, head, query block) plan row per CTA, gathering that row's kept K/V rows.
#include <cuda.h>  // CUtensorMap (the type only: maps are encoded through the runtime's driver entry point)
#include <cuda_runtime.h>

#include <cstdint>

namespace fgattn::cuda {

enum class AttnElement : int { bf16 = 0, f16 = 1 };

// How the sm_90a producer loads K/V tiles (the public fgattn::KvLoad of AttentionOptions, mapped by the host).
enum class KvLoad : int {
  cp_async = 0,  // every tile gathered by the producer's 128 threads with 16-byte cp.async
  tma_runs = 1,  // a tile whose keys are one contiguous run (every tile of a dense plan): one TMA load per 64-column
                 // panel; other tiles as cp_async
};

// What the S-only kernel mode (KernelMode::scores_only) writes: the row LSE over every key (AttentionParams::lse),
// or the oracle's bits from a given LSE (GPU oracle, src/cuda/predict/oracle_host.cpp).
enum class ScoresOutput : int { row_lse = 0, oracle_bits = 1 };

struct OracleBitsOutput {
  const float* lse = nullptr;     // (B, H, Sq) natural-log LSE of each query row over all keys
  float log2_tau = 0.f;           // keep (query block, key) iff some query's log2 P > log2 tau
  std::uint64_t* bits = nullptr;  // (rows, block_m / 16, words): each warp's 16 query rows; bit j % 64 of word j / 64
                                  // = key j kept (the plan row keeps the OR of its warps' bits)
  int words = 0;                  // ceil(Skv / 64)
};

struct AttentionParams {
  const void* q = nullptr;  // (B, Sq, H, D), strides below, last dim contiguous, 16-byte aligned rows
  const void* k = nullptr;  // (B, Skv, H, D)
  const void* v = nullptr;  // (B, Skv, H, D)
  void* o = nullptr;        // (B, Sq, H, D)
  float* lse = nullptr;     // optional, packed (B, H, Sq), natural log
  std::int64_t q_stride[3]{};  // element strides of (b, s, h)
  std::int64_t k_stride[3]{};
  std::int64_t v_stride[3]{};
  std::int64_t o_stride[3]{};
  const std::int64_t* offsets = nullptr;  // plan CSR, [rows + 1]
  const std::int32_t* indices = nullptr;  // [nnz]
  const std::int32_t* order = nullptr;    // [rows] plan rows, head by head, longest first (fgattn/row_order.h)
  bool all_keys = false;  // every row keeps keys 0 .. Skv-1 in row order (offsets, indices and order unused)
  int batch = 0, heads = 0, seq_q = 0, seq_kv = 0, head_dim = 0, block_m = 128;
  std::int64_t rows = 0;  // batch * heads * ceil(seq_q / block_m)
  float scale_log2 = 0.f;  // softmax scale * log2(e)
  AttnElement element = AttnElement::bf16;
  KvLoad kv_load = KvLoad::cp_async;  // launch_kernel (host/launch.cuh) encodes the maps below, or falls back to cp_async
  // TMA descriptors (host/tma_maps.h) of K and V as (D, Skv, H, B) tensors, 128-byte swizzle, whole tiles.
  CUtensorMap k_tile_map{}, v_tile_map{};
  // KernelMode::scores_only (no V, no O): which output, and the oracle's inputs and bits.
  ScoresOutput scores = ScoresOutput::row_lse;
  OracleBitsOutput oracle{};
};

// Head dims and query-block sizes the kernels are built for (the host refuses anything else before launch).
inline constexpr int kBuiltHeadDims[] = {64, 128};
inline constexpr int kBuiltBlockM[] = {64, 128};

// The launches (host/launch_attention.cu, host/launch_scores.cu). S = Q K^T only over every key (all_keys): the row
// LSE or the oracle bits (p.scores).
cudaError_t launch_attention(const AttentionParams& p, cudaStream_t stream);
cudaError_t launch_scores(const AttentionParams& p, cudaStream_t stream);

}  // namespace fgattn::cuda
