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
    std::vector<double> query(static_cast<std::size_t>(D)), scores(keys.size()), acc(static_cast<std::size_t>(D));
    for (std::int64_t s = qb * plan.block_m; s < std::min(Sq, (qb + 1) * plan.block_m); ++s) {
      for (std::int64_t d = 0; d < D; ++d) query[static_cast<std::size_t>(d)] = load_as_float(q.data, q.dtype, q.offset(b, s, h, d));
      double max_score = -std::numeric_limits<double>::infinity();
      for (std::size_t i = 0; i < keys.size(); ++i) {
        double dot = 0;
        for (std::int64_t d = 0; d < D; ++d)
          dot += query[static_cast<std::size_t>(d)] * load_as_float(k.data, k.dtype, k.offset(b, keys[i], h, d));
        scores[i] = dot * scale;
        max_score = std::max(max_score, scores[i]);
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      double denominator = 0;
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const double p = std::exp(scores[i] - max_score);
        denominator += p;
        for (std::int64_t d = 0; d < D; ++d)
          acc[static_cast<std::size_t>(d)] += p * load_as_float(v.data, v.dtype, v.offset(b, keys[i], h, d));
      }
      // An empty row has no keys: O = 0 and LSE = -inf by definition.
      for (std::int64_t d = 0; d < D; ++d)
        store_from_float(out.data, out.dtype, out.offset(b, s, h, d),
                         keys.empty() ? 0.0f : static_cast<float>(acc[static_cast<std::size_t>(d)] / denominator));
      if (lse != nullptr)
        lse[(b * H + h) * Sq + s] = keys.empty() ? -std::numeric_limits<float>::infinity()
                                                 : static_cast<float>(max_score + std::log(denominator));
    }
  });
}

}  // namespace fgattn::cpu
