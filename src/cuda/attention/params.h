#pragma once
// Plain parameters of the sparse attention forward (DESIGN.md layer 1: raw pointers, int64 strides, sizes).
// The kernel runs one (batch, head, query block) plan row per CTA, gathering that row's kept K/V rows.
#include <cuda_runtime.h>

#include <cstdint>

namespace fgattn::cuda {

enum class AttnElement : int { bf16 = 0, f16 = 1 };

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
  const std::int32_t* order = nullptr;    // [rows] plan rows, longest first (the CTA schedule)
  int batch = 0, heads = 0, seq_q = 0, seq_kv = 0, head_dim = 0, block_m = 128;
  std::int64_t rows = 0;  // batch * heads * ceil(seq_q / block_m)
  float scale_log2 = 0.f;  // softmax scale * log2(e)
  AttnElement element = AttnElement::bf16;
};

// Head dims and query-block sizes the kernels are built for (the host refuses anything else before launch).
inline constexpr int kBuiltHeadDims[] = {64, 128};
inline constexpr int kBuiltBlockM[] = {64, 128};

cudaError_t launch_attention(const AttentionParams& p, cudaStream_t stream);
const char* kernel_name();  // which kernel launch_attention runs (FGATTN_KERNEL=sm80 picks the mma.sync one)

}  // namespace fgattn::cuda
