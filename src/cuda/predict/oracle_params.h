#pragma once
// Plain parameter structs and launchers of the GPU oracle predictor (framework-free; docs/design.md, layer 1).
// Passes 1 and 2 (the row LSE, then for each (query block, key) whether max over the block's queries of
// P[q, key] > tau, as a bitmask [rows][ceil(Skv / 64)]) are the attention kernel's S-only mode
// (src/cuda/attention/consumer_scores.cuh, host/launch_scores.cu): S x S probabilities are never written.
// Pass 3 (bits_to_plan): group the bits into M x N slices and compact them into the CSR plan.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace fgattn::cuda {

enum class ElementType : int { bf16 = 0, f16 = 1 };

struct BitsToPlanParams {
  std::uint64_t* bits = nullptr;  // (rows, partials, words): a key is kept if any partial row keeps it (plan_counts
                                  // merges them into each row's first partial)
  int partials = 1;
  std::int64_t rows = 0;
  int seq_kv = 0;
  int block_n = 1;                 // 1..64 dividing 64, or a multiple of 64
  std::int64_t* offsets = nullptr;  // rows + 1
  std::int32_t* indices = nullptr;  // capacity: rows * seq_kv (or use count-only first)
  // The text-token rule (with_text_tokens, plan.h) applied after grouping: keys [0, text_tokens) in every row, and
  // every key in a row whose query block (row % query_blocks) starts before text_tokens. 0 = none.
  int text_tokens = 0;
  int block_m = 128;
  std::int64_t query_blocks = 1;
};

// Counts each row's kept keys into offsets[1..rows] (offsets[0] = 0) — scan them before fill, which reads the
// partial rows that plan_counts merged.
cudaError_t launch_plan_counts(const BitsToPlanParams& p, cudaStream_t stream);
cudaError_t launch_plan_fill(const BitsToPlanParams& p, cudaStream_t stream);

// CUB inclusive scan of offsets[1..rows] in place (offsets[0] = 0 already): counts -> CSR offsets, on caller-owned
// scratch (size it with scratch == nullptr: the call only writes `bytes`).
cudaError_t scan_offsets(void* scratch, std::size_t& bytes, std::int64_t* offsets, std::int64_t rows, cudaStream_t stream);

}  // namespace fgattn::cuda
