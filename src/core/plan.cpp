#include "fgattn/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "fgattn/error.h"

namespace fgattn {

std::int64_t Plan::block_rows(std::int64_t qb) const {
  return std::min<std::int64_t>(block_m, seq_q - qb * block_m);
}

double Plan::density() const {
  const double all = static_cast<double>(rows()) * static_cast<double>(seq_kv);
  return all > 0 ? static_cast<double>(nnz()) / all : 0.0;
}

double Plan::attended_pairs() const {
  double pairs = 0;
  const std::int64_t nqb = query_blocks();
  for (std::int64_t r = 0; r < rows(); ++r) {
    const auto n = offsets[static_cast<std::size_t>(r) + 1] - offsets[static_cast<std::size_t>(r)];
    pairs += static_cast<double>(n) * static_cast<double>(block_rows(r % nqb));
  }
  return pairs;
}

namespace {

void check_sizes(std::int64_t B, std::int64_t H, std::int64_t Sq, std::int64_t Skv, int block_m) {
  if (B < 1) throw Error("plan.batch", fmt::format("must be >= 1, got {}", B));
  if (H < 1) throw Error("plan.heads", fmt::format("must be >= 1, got {}", H));
  if (Sq < 1) throw Error("plan.seq_q", fmt::format("must be >= 1, got {}", Sq));
  if (Skv < 1) throw Error("plan.seq_kv", fmt::format("must be >= 1, got {}", Skv));
  if (Skv > std::numeric_limits<std::int32_t>::max())
    throw Error("plan.seq_kv", fmt::format("{} keys do not fit the int32 indices", Skv));
  if (block_m < 1) throw Error("plan.block_m", fmt::format("must be >= 1, got {}", block_m));
  // rows * Skv must not overflow int64 (it bounds nnz and every offset).
  const long double rows = static_cast<long double>(B) * H * ((Sq + block_m - 1) / block_m);
  if (rows * static_cast<long double>(Skv) > static_cast<long double>(std::numeric_limits<std::int64_t>::max() / 2))
    throw Error("plan", fmt::format("B={} H={} Sq={} Skv={} overflows the int64 offsets", B, H, Sq, Skv));
}

std::string row_name(const Plan& p, std::int64_t r) {
  const std::int64_t nqb = p.query_blocks();
  return fmt::format("plan row {} (b={}, h={}, query block {})", r, r / nqb / p.heads, (r / nqb) % p.heads, r % nqb);
}

void close_row(Plan& p) { p.offsets.push_back(static_cast<std::int64_t>(p.indices.size())); }

void check_span_size(std::size_t got, long double want, const char* what) {
  if (static_cast<long double>(got) != want)
    throw Error(what, fmt::format("has {} entries, expected {:.0f}", got, static_cast<double>(want)));
}

}  // namespace

Plan plan_with_sizes(std::int64_t B, std::int64_t H, std::int64_t Sq, std::int64_t Skv, int block_m) {
  check_sizes(B, H, Sq, Skv, block_m);
  Plan p;
  p.batch = B;
  p.heads = H;
  p.seq_q = Sq;
  p.seq_kv = Skv;
  p.block_m = block_m;
  p.offsets.reserve(static_cast<std::size_t>(p.rows()) + 1);
  p.offsets.push_back(0);
  return p;
}

void validate_csr_shape(const Plan& sizes, std::int64_t offsets_count) {
  check_sizes(sizes.batch, sizes.heads, sizes.seq_q, sizes.seq_kv, sizes.block_m);
  if (offsets_count != sizes.rows() + 1)
    throw Error("plan.offsets", fmt::format("has {} entries, expected B*H*nQB+1 = {}", offsets_count, sizes.rows() + 1));
}

void validate_csr_ends(std::int64_t first_offset, std::int64_t last_offset, std::int64_t nnz) {
  if (first_offset != 0) throw Error("plan.offsets", fmt::format("offsets[0] must be 0, got {}", first_offset));
  if (last_offset != nnz)
    throw Error("plan.offsets", fmt::format("last offset {} must equal the number of indices {}", last_offset, nnz));
}

void validate_csr_row(const Plan& sizes, std::int64_t r, std::int64_t begin, std::int64_t end, std::int64_t nnz,
                      std::span<const std::int32_t> keys) {
  if (end < begin)
    throw Error("plan.offsets", fmt::format("{}: offsets decrease ({} -> {})", row_name(sizes, r), begin, end));
  if (end > nnz)
    throw Error("plan.offsets", fmt::format("{}: offset {} is past the {} indices", row_name(sizes, r), end, nnz));
  if (begin < 0)  // only after an earlier row broke a rule; named here for callers that check one row
    throw Error("plan.offsets", fmt::format("{}: offset {} is negative", row_name(sizes, r), begin));
  std::int64_t previous = -1;
  for (const std::int64_t key : keys) {
    if (key < 0 || key >= sizes.seq_kv)
      throw Error("plan.indices",
                  fmt::format("{}: key {} is out of range [0, {})", row_name(sizes, r), key, sizes.seq_kv));
    if (key <= previous)
      throw Error("plan.indices", fmt::format("{}: keys must be sorted ascending and unique, {} follows {}",
                                              row_name(sizes, r), key, previous));
    previous = key;
  }
}

void validate_csr(const Plan& sizes, std::span<const std::int64_t> offsets, std::span<const std::int32_t> indices) {
  validate_csr_shape(sizes, static_cast<std::int64_t>(offsets.size()));
  const auto nnz = static_cast<std::int64_t>(indices.size());
  validate_csr_ends(offsets.front(), offsets.back(), nnz);
  for (std::int64_t r = 0; r < sizes.rows(); ++r) {
    const auto begin = offsets[static_cast<std::size_t>(r)], end = offsets[static_cast<std::size_t>(r) + 1];
    const bool readable = 0 <= begin && begin <= end && end <= nnz;
    validate_csr_row(sizes, r, begin, end, nnz,
                     readable ? indices.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin))
                              : std::span<const std::int32_t>());
  }
}

void validate(const Plan& p) { validate_csr(p, p.offsets, p.indices); }

Plan dense_plan(std::int64_t B, std::int64_t H, std::int64_t Sq, std::int64_t Skv, int block_m) {
  Plan p = plan_with_sizes(B, H, Sq, Skv, block_m);
  p.indices.reserve(static_cast<std::size_t>(p.rows() * Skv));
  for (std::int64_t r = 0; r < p.rows(); ++r) {
    for (std::int64_t j = 0; j < Skv; ++j) p.indices.push_back(static_cast<std::int32_t>(j));
    close_row(p);
  }
  return p;
}

Plan plan_from_token_mask(std::span<const std::uint8_t> mask, std::int64_t B, std::int64_t H, std::int64_t Sq,
                          std::int64_t Skv, int block_m) {
  Plan p = plan_with_sizes(B, H, Sq, Skv, block_m);
  check_span_size(mask.size(), static_cast<long double>(B) * H * Sq * Skv, "token_mask");
  std::vector<std::uint8_t> keep(static_cast<std::size_t>(Skv));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t qb = 0; qb < p.query_blocks(); ++qb) {
        std::fill(keep.begin(), keep.end(), std::uint8_t{0});
        for (std::int64_t q = qb * block_m; q < qb * block_m + p.block_rows(qb); ++q) {
          const std::uint8_t* row = mask.data() + ((b * H + h) * Sq + q) * Skv;
          for (std::int64_t j = 0; j < Skv; ++j) keep[static_cast<std::size_t>(j)] |= row[j];
        }
        for (std::int64_t j = 0; j < Skv; ++j)
          if (keep[static_cast<std::size_t>(j)]) p.indices.push_back(static_cast<std::int32_t>(j));
        close_row(p);
      }
  return p;
}

Plan plan_from_bitmask(std::span<const std::uint64_t> bits, std::int64_t B, std::int64_t H, std::int64_t Sq,
                       std::int64_t Skv, int block_m) {
  Plan p = plan_with_sizes(B, H, Sq, Skv, block_m);
  const std::int64_t words = (Skv + 63) / 64;
  check_span_size(bits.size(), static_cast<long double>(p.rows()) * words, "bitmask");
  for (std::int64_t r = 0; r < p.rows(); ++r) {
    const std::uint64_t* row = bits.data() + r * words;
    // Bits past Skv in the last word are padding and must be clear: a set one would name a key that doesn't exist.
    const int tail = static_cast<int>(Skv % 64);
    if (tail != 0 && (row[words - 1] >> tail) != 0)
      throw Error("bitmask", fmt::format("{}: bits set past seq_kv = {}", row_name(p, r), Skv));
    for (std::int64_t j = 0; j < Skv; ++j)
      if ((row[j / 64] >> (j % 64)) & 1u) p.indices.push_back(static_cast<std::int32_t>(j));
    close_row(p);
  }
  return p;
}

Plan plan_from_block_mask(std::span<const std::uint8_t> block_mask, std::int64_t B, std::int64_t H, std::int64_t Sq,
                          std::int64_t Skv, int block_m, int block_n) {
  if (block_n < 1) throw Error("block_n", fmt::format("must be >= 1, got {}", block_n));
  Plan p = plan_with_sizes(B, H, Sq, Skv, block_m);
  const std::int64_t nkb = (Skv + block_n - 1) / block_n;
  check_span_size(block_mask.size(), static_cast<long double>(p.rows()) * nkb, "block_mask");
  for (std::int64_t r = 0; r < p.rows(); ++r) {
    for (std::int64_t kb = 0; kb < nkb; ++kb) {
      if (!block_mask[static_cast<std::size_t>(r * nkb + kb)]) continue;
      for (std::int64_t j = kb * block_n; j < std::min<std::int64_t>(Skv, (kb + 1) * block_n); ++j)
        p.indices.push_back(static_cast<std::int32_t>(j));
    }
    close_row(p);
  }
  return p;
}

}  // namespace fgattn
