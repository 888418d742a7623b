#include "cpu/reference_attention.h"

#include <cmath>
#include <limits>
#include <vector>

#include "cpu/parallel.h"

namespace fgattn::cpu {

void reference_attention(const TensorView& q, const TensorView& k, const TensorView& v, const Plan& plan,
                         const TensorView& out, float* lse, double scale, int num_threads) {
  const std::int64_t H = q.heads(), D = q.head_dim(), Sq = q.seq();
  const std::int64_t nqb = plan.query_blocks();
  parallel_for(plan.rows(), num_threads, [&](std::int64_t row) {
    const std::int64_t b = row / nqb / H, h = (row / nqb) % H, qb = row % nqb;
    const auto keys = plan.keys(row);
    const std::size_t n = keys.size(), dim = static_cast<std::size_t>(D);
    // The row's kept K and V rows, converted to double once and shared by the block's queries.
    std::vector<double> kept_k(n * dim), kept_v(n * dim);
    for (std::size_t i = 0; i < n; ++i)
      for (std::int64_t d = 0; d < D; ++d) {
        kept_k[i * dim + static_cast<std::size_t>(d)] = load_as_float(k.data, k.dtype, k.offset(b, keys[i], h, d));
        kept_v[i * dim + static_cast<std::size_t>(d)] = load_as_float(v.data, v.dtype, v.offset(b, keys[i], h, d));
      }
    std::vector<double> query(dim), scores(n), acc(dim);
    for (std::int64_t s = qb * plan.block_m; s < std::min(Sq, (qb + 1) * plan.block_m); ++s) {
      for (std::int64_t d = 0; d < D; ++d) query[static_cast<std::size_t>(d)] = load_as_float(q.data, q.dtype, q.offset(b, s, h, d));
      double max_score = -std::numeric_limits<double>::infinity();
      for (std::size_t i = 0; i < n; ++i) {
        double dot = 0;
        for (std::size_t d = 0; d < dim; ++d) dot += query[d] * kept_k[i * dim + d];
        scores[i] = dot * scale;
        max_score = std::max(max_score, scores[i]);
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      double denominator = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double p = std::exp(scores[i] - max_score);
        denominator += p;
        for (std::size_t d = 0; d < dim; ++d) acc[d] += p * kept_v[i * dim + d];
      }
      // An empty row has no keys: O = 0 and LSE = -inf by definition.
      for (std::int64_t d = 0; d < D; ++d)
        store_from_float(out.data, out.dtype, out.offset(b, s, h, d),
                         n == 0 ? 0.0f : static_cast<float>(acc[static_cast<std::size_t>(d)] / denominator));
      if (lse != nullptr)
        lse[(b * H + h) * Sq + s] = n == 0 ? -std::numeric_limits<float>::infinity()
                                           : static_cast<float>(max_score + std::log(denominator));
    }
  });
}

}  // namespace fgattn::cpu
