// Top-CDF over pooled blocks (SpargeAttn-like): mean-pool Q and K over `pool` tokens, softmax the pooled
// logits, keep the smallest set of key pools whose probability mass reaches tau; pools whose tokens are not
// self-similar (mean cosine to their mean below sim_threshold) cannot be summarised by a mean, so a key pool
// like that is always kept and a query pool like that keeps every key. A key pool holding a norm outlier (largest
// token norm above outlier_ratio x the mean token norm: an attention sink) is always kept too: the mean hides a
// sink's logit (16.8 against ~2 for its pool's other keys on `small`), and the queries that put most of their mass
// on it lost it (docs/predict_gpu.md, "Top-CDF quality").
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "cpu/packed.h"
#include "cpu/parallel.h"
#include "fgattn/error.h"
#include "fgattn/predict.h"

namespace fgattn {
namespace {

struct PoolShape {
  double mean_cosine = 0;  // the rows' mean cosine to their mean
  double norm_ratio = 0;   // largest row norm over the mean row norm (0 for all-zero rows)
};

// Mean of rows [begin, end) of x ([S][D]) into mean[D], and how well it summarises them.
PoolShape pool_rows(const float* x, std::int64_t begin, std::int64_t end, std::int64_t D, double* mean) {
  const auto n = static_cast<double>(end - begin);
  std::fill(mean, mean + D, 0.0);
  for (std::int64_t s = begin; s < end; ++s)
    for (std::int64_t d = 0; d < D; ++d) mean[d] += x[s * D + d];
  double mnorm = 0;
  for (std::int64_t d = 0; d < D; ++d) {
    mean[d] /= n;
    mnorm += mean[d] * mean[d];
  }
  mnorm = std::sqrt(mnorm);
  double cos_sum = 0, norm_sum = 0, norm_max = 0;
  for (std::int64_t s = begin; s < end; ++s) {
    double dot = 0, norm = 0;
    for (std::int64_t d = 0; d < D; ++d) {
      dot += x[s * D + d] * mean[d];
      norm += static_cast<double>(x[s * D + d]) * x[s * D + d];
    }
    norm = std::sqrt(norm);
    norm_sum += norm;
    norm_max = std::max(norm_max, norm);
    cos_sum += norm > 0 && mnorm > 0 ? dot / (norm * mnorm) : 0.0;
  }
  return {cos_sum / n, norm_sum > 0 ? norm_max / (norm_sum / n) : 0.0};
}

}  // namespace

Prediction topcdf_plan(const TensorView& q, const TensorView& k, const TopCdfOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  cpu::check_qk(q, k);
  if (o.block_m < 1) throw Error("block_m", fmt::format("must be >= 1, got {}", o.block_m));
  if (o.pool < 1) throw Error("pool", fmt::format("must be >= 1, got {}", o.pool));
  if (!(o.tau >= 0 && o.tau <= 1)) throw Error("tau", fmt::format("must be in [0, 1], got {}", o.tau));
  if (!(o.outlier_ratio > 0))
    throw Error("outlier_ratio", fmt::format("must be > 0 (infinity: no outlier guard), got {}", o.outlier_ratio));
  if (o.quality_samples < 0) throw Error("quality_samples", fmt::format("must be >= 0 (0: none), got {}", o.quality_samples));
  const std::int64_t B = q.batch(), H = q.heads(), Sq = q.seq(), Skv = k.seq(), D = q.head_dim();
  const std::int64_t M = o.block_m, pool = o.pool;
  const std::int64_t nqb = (Sq + M - 1) / M, nkp = (Skv + pool - 1) / pool;
  const std::vector<float> qp = cpu::pack_head_major(q, o.num_threads);
  const std::vector<float> kp = cpu::pack_head_major(k, o.num_threads);
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));

  // Pooled keys and their self-similarity, per (b, h).
  std::vector<double> kpool(static_cast<std::size_t>(B * H * nkp * D));
  std::vector<char> k_similar(static_cast<std::size_t>(B * H * nkp));
  cpu::parallel_for(B * H, o.num_threads, [&](std::int64_t bh) {
    const float* kh = kp.data() + bh * Skv * D;
    for (std::int64_t j = 0; j < nkp; ++j) {
      const PoolShape shape = pool_rows(kh, j * pool, std::min(Skv, (j + 1) * pool), D, kpool.data() + (bh * nkp + j) * D);
      k_similar[static_cast<std::size_t>(bh * nkp + j)] =
          shape.mean_cosine >= o.sim_threshold && !(shape.norm_ratio > o.outlier_ratio);
    }
  });

  // Per plan row, the kept key pools (union over the query pools inside the query block).
  std::vector<std::vector<char>> kept(static_cast<std::size_t>(B * H * nqb));
  cpu::parallel_for(B * H * nqb, o.num_threads, [&](std::int64_t row) {
    const std::int64_t bh = row / nqb, qb = row % nqb;
    std::vector<char>& keep = kept[static_cast<std::size_t>(row)];
    keep.assign(static_cast<std::size_t>(nkp), 0);
    for (std::int64_t j = 0; j < nkp; ++j) keep[static_cast<std::size_t>(j)] = !k_similar[static_cast<std::size_t>(bh * nkp + j)];
    if (o.tau >= 1.0) {
      std::fill(keep.begin(), keep.end(), 1);
      return;
    }
    std::vector<double> qmean(static_cast<std::size_t>(D)), prob(static_cast<std::size_t>(nkp));
    std::vector<std::int64_t> order(static_cast<std::size_t>(nkp));
    const float* qh = qp.data() + bh * Sq * D;
    const std::int64_t q_end = std::min(Sq, (qb + 1) * M);
    for (std::int64_t p0 = qb * M; p0 < q_end; p0 += pool) {
      const double sim = pool_rows(qh, p0, std::min(q_end, p0 + pool), D, qmean.data()).mean_cosine;
      if (sim < o.sim_threshold) {
        std::fill(keep.begin(), keep.end(), 1);
        return;
      }
      double mx = -INFINITY;
      for (std::int64_t j = 0; j < nkp; ++j) {
        const double* kmean = kpool.data() + (bh * nkp + j) * D;
        double dot = 0;
        for (std::int64_t d = 0; d < D; ++d) dot += qmean[static_cast<std::size_t>(d)] * kmean[d];
        prob[static_cast<std::size_t>(j)] = dot * scale;
        mx = std::max(mx, prob[static_cast<std::size_t>(j)]);
      }
      double sum = 0;
      for (auto& pr : prob) {
        pr = std::exp(pr - mx);
        sum += pr;
      }
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
        return prob[static_cast<std::size_t>(a)] > prob[static_cast<std::size_t>(b)] ||
               (prob[static_cast<std::size_t>(a)] == prob[static_cast<std::size_t>(b)] && a < b);
      });
      double mass = 0;
      for (std::int64_t j : order) {
        if (mass >= o.tau * sum) break;  // tau = 0 keeps only the forced pools
        keep[static_cast<std::size_t>(j)] = 1;
        mass += prob[static_cast<std::size_t>(j)];
      }
    }
  });

  Plan plan = plan_with_sizes(B, H, Sq, Skv, o.block_m);
  for (const auto& keep : kept) {
    for (std::int64_t j = 0; j < nkp; ++j)
      if (keep[static_cast<std::size_t>(j)])
        for (std::int64_t s = j * pool; s < std::min(Skv, (j + 1) * pool); ++s) plan.indices.push_back(static_cast<std::int32_t>(s));
    plan.offsets.push_back(static_cast<std::int64_t>(plan.indices.size()));
  }
  validate(plan);
  if (o.quality_samples > 0) plan.quality = plan_quality(q, k, plan, o.quality_samples, o.num_threads);
  Prediction p;
  p.plan = std::move(plan);
  p.report.predictor = "topcdf";
  p.report.granularity = pool == 1 ? "Mx1" : pool == M ? "MxM" : fmt::format("Mx{}", pool);
  p.report.tau = o.tau;
  p.report.density = p.plan.density();
  p.report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return p;
}

}  // namespace fgattn
