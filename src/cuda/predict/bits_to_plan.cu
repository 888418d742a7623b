// Pass 3 of the GPU predictors: group per-key bits into M x N slices and compact them into the CSR plan.
// One warp per plan row; counts first, a scan of the counts (CUB) gives the offsets, then the fill. The row order
// comes after (schedule_rows_cuda, fgattn/plan_cuda.h).
#include <cub/device/device_scan.cuh>

#include "cuda/predict/oracle_params.h"

namespace fgattn::cuda {
namespace {

constexpr int kWarpsPerCta = 8;

// Word i of a row: the OR of its partial rows.
struct RowBits {
  const std::uint64_t* row;
  int words, partials;
  __device__ std::uint64_t operator[](int i) const {
    std::uint64_t word = 0;
    for (int part = 0; part < partials; ++part) word |= row[part * words + i];
    return word;
  }
};

// Word w of a row with the text-token rule: every key of a text query block, and the text keys in any row.
__device__ inline std::uint64_t text_word(const BitsToPlanParams& p, std::int64_t row, int w) {
  if (p.text_tokens == 0) return 0;
  if ((row % p.query_blocks) * p.block_m < p.text_tokens) return ~0ull;
  const int text_keys = p.text_tokens - w * 64;  // text keys in this word
  return text_keys <= 0 ? 0ull : text_keys >= 64 ? ~0ull : (1ull << text_keys) - 1;
}

// Word w of a row after grouping: a group of block_n keys is all-kept if any of its keys is kept; then the text
// keys (not grouped: with_text_tokens adds them one by one).
__device__ inline std::uint64_t grouped_word(const BitsToPlanParams& p, const RowBits& row, std::int64_t r, int w,
                                             int words) {
  const int block_n = p.block_n, seq_kv = p.seq_kv;
  std::uint64_t word = row[w];
  if (block_n > 1 && block_n <= 64) {
    const std::uint64_t group_mask = block_n == 64 ? ~0ull : ((1ull << block_n) - 1);
    std::uint64_t out = 0;
    for (int g = 0; g < 64; g += block_n)
      if (word & (group_mask << g)) out |= group_mask << g;
    word = out;
  } else if (block_n > 64) {
    const int per_group = block_n / 64, first = (w / per_group) * per_group;
    std::uint64_t any = 0;
    for (int i = first; i < min(words, first + per_group); ++i) any |= row[i];
    word = any ? ~0ull : 0ull;
  }
  word |= text_word(p, r, w);
  const int tail = seq_kv - w * 64;  // keys past seq_kv never exist
  if (tail < 64) word &= (1ull << tail) - 1;
  return word;
}

// Also merges each row's partial bit rows into its first one, the only one plan_fill reads. (A lane may read a
// neighbour's first-partial word before or after the merge: OR with the other partials gives the same word.)
__global__ void plan_counts_kernel(BitsToPlanParams p) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerCta + threadIdx.x / 32;
  const int lane = threadIdx.x % 32, words = (p.seq_kv + 63) / 64;
  if (row >= p.rows) return;
  std::uint64_t* first = p.bits + row * p.partials * words;
  const RowBits bits{first, words, p.partials};
  long long count = 0;
  for (int w = lane; w < words; w += 32) {
    count += __popcll(grouped_word(p, bits, row, w, words));
    if (p.partials > 1) first[w] = bits[w];
  }
  for (int offset = 16; offset > 0; offset >>= 1) count += __shfl_xor_sync(0xffffffffu, count, offset);
  if (lane == 0) p.offsets[row + 1] = count;
  if (row == 0 && lane == 0) p.offsets[0] = 0;
}

__global__ void plan_fill_kernel(BitsToPlanParams p) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerCta + threadIdx.x / 32;
  const int lane = threadIdx.x % 32, words = (p.seq_kv + 63) / 64;
  if (row >= p.rows) return;
  const RowBits bits{p.bits + row * p.partials * words, words, 1};  // merged by plan_counts
  // Word by word, each lane owns two bits; a ballot gives every kept key its place, so the warp writes the
  // row's indices in order and coalesced.
  std::int32_t* out = p.indices + p.offsets[row];
  const unsigned lanes_below = (1u << lane) - 1u;
  for (int w = 0; w < words; ++w) {
    const std::uint64_t word = grouped_word(p, bits, row, w, words);
    if (word == 0) continue;
    const bool low = (word >> lane) & 1u, high = (word >> (32 + lane)) & 1u;
    const unsigned low_mask = __ballot_sync(0xffffffffu, low), high_mask = __ballot_sync(0xffffffffu, high);
    if (low) out[__popc(low_mask & lanes_below)] = w * 64 + lane;
    if (high) out[__popc(low_mask) + __popc(high_mask & lanes_below)] = w * 64 + 32 + lane;
    out += __popc(low_mask) + __popc(high_mask);
  }
}

}  // namespace

cudaError_t launch_plan_counts(const BitsToPlanParams& p, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>((p.rows + kWarpsPerCta - 1) / kWarpsPerCta);
  plan_counts_kernel<<<blocks, kWarpsPerCta * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t scan_offsets(void* scratch, std::size_t& bytes, std::int64_t* offsets, std::int64_t rows, cudaStream_t stream) {
  return cub::DeviceScan::InclusiveSum(scratch, bytes, offsets + 1, offsets + 1, rows, stream);
}

cudaError_t launch_plan_fill(const BitsToPlanParams& p, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>((p.rows + kWarpsPerCta - 1) / kWarpsPerCta);
  plan_fill_kernel<<<blocks, kWarpsPerCta * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace fgattn::cuda
