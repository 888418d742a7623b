#pragma once
// The Plan (docs/design.md contract): for every (batch, head, query block) a sorted list of kept keys, stored
// as CSR. Row r = (b * H + h) * nQB + qb. Dense and block-sparse attention are special plans.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fgattn {

// How much attention a plan drops (issue 20): for a query q of block i, dropped(q) = 1 - sum over the keys row i
// keeps of the softmax probability P[q, j] over all keys (1 for a row that keeps nothing). The oracle measures every
// query (exact); Top-CDF samples a few queries per block (estimated: the max is then a lower bound).
struct PlanQuality {
  double dropped_mass_mean = 0.0;  // mean of dropped(q) over the queries measured
  double dropped_mass_max = 0.0;   // max of dropped(q) over the queries measured
  bool estimated = false;          // true: measured on sampled queries only
  std::int64_t queries = 0;        // how many queries were measured
};

struct Plan {
  std::int64_t batch = 0, heads = 0, seq_q = 0, seq_kv = 0;
  int block_m = 128;                   // queries per block (the GPU runs 64 and 128; the CPU any >= 1)
  std::vector<std::int64_t> offsets;   // [rows + 1], offsets[0] = 0, non-decreasing
  std::vector<std::int32_t> indices;   // [nnz], per row sorted ascending, unique, in [0, seq_kv)
  std::optional<PlanQuality> quality;  // set by the predictors that measure it; saved with the plan

  std::int64_t query_blocks() const { return (seq_q + block_m - 1) / block_m; }
  std::int64_t rows() const { return batch * heads * query_blocks(); }
  std::int64_t row_index(std::int64_t b, std::int64_t h, std::int64_t qb) const {
    return (b * heads + h) * query_blocks() + qb;
  }
  std::span<const std::int32_t> keys(std::int64_t row) const {
    return {indices.data() + offsets[static_cast<std::size_t>(row)],
            static_cast<std::size_t>(offsets[static_cast<std::size_t>(row) + 1] - offsets[static_cast<std::size_t>(row)])};
  }
  // Queries in query block qb (the last block may be short).
  std::int64_t block_rows(std::int64_t qb) const;
  std::int64_t nnz() const { return static_cast<std::int64_t>(indices.size()); }
  // Kept M x 1 slices over all slices.
  double density() const;
  // Query-key pairs attended (a short last block counts its real queries): 4 * D * this = attended FLOPs.
  double attended_pairs() const;
};

// Checks every rule of the contract; throws fgattn::Error naming the first offending row and the rule.
// validate(plan) is validate_csr(plan, plan.offsets, plan.indices).
void validate(const Plan& plan);

// The same check of CSR arrays held elsewhere (a framework's tensors): `sizes` gives batch, heads, seq_q, seq_kv and
// block_m (its own offsets and indices are not read). The one host implementation of the rules; the GPU check
// (validate_csr_cuda, plan_cuda.h) finds the first broken row on the device and reports it with the steps below.
void validate_csr(const Plan& sizes, std::span<const std::int64_t> offsets, std::span<const std::int32_t> indices);

// validate_csr in steps, each throwing its message: the sizes and the offsets' length; the first and last offsets
// (0 and nnz); one row r given its offsets [begin, end) and, when 0 <= begin <= end <= nnz, its keys.
void validate_csr_shape(const Plan& sizes, std::int64_t offsets_count);
void validate_csr_ends(std::int64_t first_offset, std::int64_t last_offset, std::int64_t nnz);
void validate_csr_row(const Plan& sizes, std::int64_t row, std::int64_t begin, std::int64_t end, std::int64_t nnz,
                      std::span<const std::int32_t> keys);

// A plan with these sizes and no rows yet (offsets = {0}): builders and predictors append one row after another,
// then validate(). Throws fgattn::Error for sizes the contract refuses.
Plan plan_with_sizes(std::int64_t B, std::int64_t H, std::int64_t Sq, std::int64_t Skv, int block_m);

// Builders. Every builder returns a validated plan.
Plan dense_plan(std::int64_t B, std::int64_t H, std::int64_t Sq, std::int64_t Skv, int block_m);
// token_mask: bytes [B, H, Sq, Skv], non-zero = keep. A query block keeps the union of its queries' keys.
Plan plan_from_token_mask(std::span<const std::uint8_t> token_mask, std::int64_t B, std::int64_t H, std::int64_t Sq,
                          std::int64_t Skv, int block_m);
// bitmask: per plan row ceil(Skv / 64) words, bit j % 64 of word j / 64 set = keep key j.
Plan plan_from_bitmask(std::span<const std::uint64_t> bitmask, std::int64_t B, std::int64_t H, std::int64_t Sq,
                       std::int64_t Skv, int block_m);
// block_mask: bytes [B, H, nQB, ceil(Skv / block_n)], non-zero = keep that whole key block.
Plan plan_from_block_mask(std::span<const std::uint8_t> block_mask, std::int64_t B, std::int64_t H, std::int64_t Sq,
                          std::int64_t Skv, int block_m, int block_n);

// Text tokens that share the sequence (HunyuanVideo: the first `text_tokens` positions) are kept by every plan
// (docs/design.md): every row gains keys [0, text_tokens), and a query block holding a text query keeps all keys.
// Returns a validated plan; text_tokens = 0 returns the plan as it is. Throws fgattn::Error if text_tokens is outside
// [0, min(Sq, Skv)].
Plan with_text_tokens(Plan plan, std::int64_t text_tokens);
// The rule with_text_tokens and the predictors' text_tokens options check: 0 <= text_tokens <= min(Sq, Skv).
void check_text_tokens(std::int64_t text_tokens, std::int64_t seq_q, std::int64_t seq_kv);

// Plans are data: a small binary file ("FGPLAN1" header, sizes, offsets, indices, then optional tagged sections:
// "FGQUAL1" holds the quality), validated on load. Files without sections (before issue 20) load as before.
void save_plan(const Plan& plan, const std::string& path);
Plan load_plan(const std::string& path);

}  // namespace fgattn
