#pragma once
// Shared test helpers: fresh random tensors and random plans (seeded from the test's name for replay).
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "fgattn/plan.h"
#include "fgattn/tensor.h"

namespace fgattn::testutil {

inline HostTensor random_tensor(std::mt19937_64& rng, DType dtype, Layout layout, std::int64_t B, std::int64_t S,
                                std::int64_t H, std::int64_t D, float scale = 1.0f) {
  HostTensor t = HostTensor::zeros(dtype, layout, B, S, H, D);
  std::uniform_real_distribution<float> dist(-scale, scale);
  for (std::int64_t i = 0; i < t.numel(); ++i) store_from_float(t.bytes.data(), dtype, i, dist(rng));
  return t;
}

// Each (row, key) kept with probability keep; rows listed in `empty_rows` are emptied.
inline Plan random_plan(std::mt19937_64& rng, std::int64_t B, std::int64_t H, std::int64_t Sq, std::int64_t Skv,
                        int block_m, double keep, const std::vector<std::int64_t>& empty_rows = {}) {
  const std::int64_t rows = B * H * ((Sq + block_m - 1) / block_m);
  const std::int64_t words = (Skv + 63) / 64;
  std::vector<std::uint64_t> bits(static_cast<std::size_t>(rows * words), 0);
  std::bernoulli_distribution coin(keep);
  for (std::int64_t r = 0; r < rows; ++r) {
    if (std::find(empty_rows.begin(), empty_rows.end(), r) != empty_rows.end()) continue;
    for (std::int64_t j = 0; j < Skv; ++j)
      if (coin(rng)) bits[static_cast<std::size_t>(r * words + j / 64)] |= std::uint64_t{1} << (j % 64);
  }
  return plan_from_bitmask(bits, B, H, Sq, Skv, block_m);
}

}  // namespace fgattn::testutil
