// The dropped softmax mass of a plan (PlanQuality, plan.h), in double: per measured query the LSE over every key and
// over the keys its block keeps; dropped = 1 - exp(lse_kept - lse_all).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/packed.h"
#include "cpu/parallel.h"
#include "fgattn/error.h"
#include "fgattn/predict.h"

namespace fgattn {
namespace {

// log sum exp of x[0, n) (n >= 1 values; -inf for n = 0).
double log_sum_exp(const std::vector<double>& x) {
  if (x.empty()) return -std::numeric_limits<double>::infinity();
  const double mx = *std::max_element(x.begin(), x.end());
  double sum = 0;
  for (double v : x) sum += std::exp(v - mx);
  return mx + std::log(sum);
}

}  // namespace

std::vector<std::int64_t> quality_queries(std::int64_t block_rows, int samples) {
  if (samples < 0) throw Error("samples", fmt::format("must be >= 0 (0: every query), got {}", samples));
  std::vector<std::int64_t> rows;
  if (samples == 0 || samples >= block_rows) {
    for (std::int64_t r = 0; r < block_rows; ++r) rows.push_back(r);
    return rows;
  }
  for (int s = 0; s < samples; ++s) rows.push_back((2 * s + 1) * block_rows / (2 * samples));  // evenly spread
  return rows;
}

PlanQuality plan_quality(const TensorView& q, const TensorView& k, const Plan& plan, int samples, int num_threads) {
  cpu::check_qk(q, k);
  if (plan.batch != q.batch() || plan.heads != q.heads() || plan.seq_q != q.seq() || plan.seq_kv != k.seq())
    throw Error("plan", fmt::format("sizes (B {}, H {}, Sq {}, Skv {}) must match q and k (B {}, H {}, Sq {}, Skv {})",
                                    plan.batch, plan.heads, plan.seq_q, plan.seq_kv, q.batch(), q.heads(), q.seq(), k.seq()));
  validate(plan);
  if (samples < 0) throw Error("samples", fmt::format("must be >= 0 (0: every query), got {}", samples));
  const std::int64_t Sq = q.seq(), Skv = k.seq(), D = q.head_dim(), nqb = plan.query_blocks(), M = plan.block_m;
  const std::vector<float> qp = cpu::pack_head_major(q, num_threads);
  const std::vector<float> kp = cpu::pack_head_major(k, num_threads);
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  struct Sums {
    double sum = 0, max = 0;
    std::int64_t count = 0;
    bool sampled = false;
  };
  std::vector<Sums> per_row(static_cast<std::size_t>(plan.rows()));
  cpu::parallel_for(plan.rows(), num_threads, [&](std::int64_t row) {
    const std::int64_t bh = row / nqb, qb = row % nqb;
    const std::int64_t rows_in_block = std::min(M, Sq - qb * M);
    const auto keys = plan.keys(row);
    std::vector<double> logits(static_cast<std::size_t>(Skv)), kept;
    Sums& out = per_row[static_cast<std::size_t>(row)];
    for (std::int64_t r : quality_queries(rows_in_block, samples)) {
      const float* qr = qp.data() + (bh * Sq + qb * M + r) * D;
      for (std::int64_t j = 0; j < Skv; ++j) {
        const float* kr = kp.data() + (bh * Skv + j) * D;
        double dot = 0;
        for (std::int64_t d = 0; d < D; ++d) dot += static_cast<double>(qr[d]) * kr[d];
        logits[static_cast<std::size_t>(j)] = dot * scale;
      }
      kept.clear();
      for (std::int32_t j : keys) kept.push_back(logits[static_cast<std::size_t>(j)]);
      const double dropped = std::clamp(1.0 - std::exp(log_sum_exp(kept) - log_sum_exp(logits)), 0.0, 1.0);
      out.sum += dropped;
      out.max = std::max(out.max, dropped);
      ++out.count;
    }
    out.sampled = out.count < rows_in_block;
  });
  PlanQuality quality;
  double sum = 0;
  for (const Sums& s : per_row) {
    sum += s.sum;
    quality.dropped_mass_max = std::max(quality.dropped_mass_max, s.max);
    quality.queries += s.count;
    quality.estimated = quality.estimated || s.sampled;
  }
  quality.dropped_mass_mean = quality.queries > 0 ? sum / static_cast<double>(quality.queries) : 0.0;
  return quality;
}

}  // namespace fgattn
