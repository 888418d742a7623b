// Exact slice scores: for every (b, h, query block) and key, the largest softmax probability any of the
// block's queries gives that key. Products of two floats are exact in double, so every logit is the exact
// dot product up to double rounding; the softmax runs in double and only the final score is rounded to f32.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "cpu/packed.h"
#include "cpu/parallel.h"
#include "fgattn/error.h"
#include "fgattn/predict.h"

namespace fgattn {
namespace {

// Four independent double accumulators: exact products, short dependency chains.
inline double dot(const float* a, const float* b, std::int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::int64_t d = 0;
  for (; d + 4 <= n; d += 4) {
    s0 += static_cast<double>(a[d]) * b[d];
    s1 += static_cast<double>(a[d + 1]) * b[d + 1];
    s2 += static_cast<double>(a[d + 2]) * b[d + 2];
    s3 += static_cast<double>(a[d + 3]) * b[d + 3];
  }
  for (; d < n; ++d) s0 += static_cast<double>(a[d]) * b[d];
  return (s0 + s1) + (s2 + s3);
}

}  // namespace

SliceScores compute_slice_scores(const TensorView& q, const TensorView& k, int block_m, int num_threads) {
  const auto start = std::chrono::steady_clock::now();
  cpu::check_qk(q, k);
  if (block_m < 1) throw Error("block_m", fmt::format("must be >= 1, got {}", block_m));
  const std::int64_t B = q.batch(), H = q.heads(), Sq = q.seq(), Skv = k.seq(), D = q.head_dim();
  if (Skv > std::numeric_limits<std::int32_t>::max()) throw Error("k", fmt::format("{} keys exceed int32 indices", Skv));
  const std::int64_t nqb = (Sq + block_m - 1) / block_m;

  SliceScores out;
  out.batch = B;
  out.heads = H;
  out.seq_q = Sq;
  out.seq_kv = Skv;
  out.block_m = block_m;
  out.scores.assign(static_cast<std::size_t>(B * H * nqb * Skv), 0.0f);

  const std::vector<float> qp = cpu::pack_head_major(q, num_threads);
  const std::vector<float> kp = cpu::pack_head_major(k, num_threads);
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));

  cpu::parallel_for(B * H * nqb, num_threads, [&](std::int64_t row) {
    const std::int64_t bh = row / nqb, qb = row % nqb;
    const float* kh = kp.data() + bh * Skv * D;
    float* score = out.scores.data() + row * Skv;
    std::vector<double> e(static_cast<std::size_t>(Skv));
    const std::int64_t q_end = std::min(Sq, (qb + 1) * block_m);
    for (std::int64_t s = qb * block_m; s < q_end; ++s) {
      const float* qs = qp.data() + (bh * Sq + s) * D;
      double m = -std::numeric_limits<double>::infinity();
      for (std::int64_t j = 0; j < Skv; ++j) {
        e[static_cast<std::size_t>(j)] = scale * dot(qs, kh + j * D, D);
        m = std::max(m, e[static_cast<std::size_t>(j)]);
      }
      double sum = 0;
      for (std::int64_t j = 0; j < Skv; ++j) {
        e[static_cast<std::size_t>(j)] = std::exp(e[static_cast<std::size_t>(j)] - m);
        sum += e[static_cast<std::size_t>(j)];
      }
      const double inv = 1.0 / sum;
      for (std::int64_t j = 0; j < Skv; ++j)
        score[j] = std::max(score[j], static_cast<float>(e[static_cast<std::size_t>(j)] * inv));
    }
  });
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace fgattn
