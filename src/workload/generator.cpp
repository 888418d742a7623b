// Video-like Q/K/V: content field -> per-head projections + a per-head positional vector -> 3D RoPE -> sinks.
// Only the content field and the per-head weights draw random numbers (sequentially, from one seeded stream);
// the projection is plain arithmetic run in parallel, so the output does not depend on the thread count.
#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "cpu/parallel.h"
#include "fgattn/error.h"
#include "fgattn/workload.h"
#include "workload/content.h"
#include "workload/random.h"
#include "workload/rope3d.h"

namespace fgattn {
namespace {

using workload::Rng;

struct HeadWeights {
  std::vector<float> wq, wk, wv;  // [D][C]
  std::vector<float> u;           // [D] positional vector, shared by q and k (its RoPE product peaks at zero offset)
  std::vector<float> sink;        // [D] unit direction; sink keys carry it strongly, every query weakly
  double content_gain = 1.0;      // scales the content part of q and k
  double sink_q = 0.0, sink_k = 0.0;
};

HeadWeights make_head(const WorkloadSpec& spec, const workload::Rope3d& rope, std::int64_t C, Rng& rng) {
  const std::int64_t D = spec.head_dim;
  const double rootd = std::sqrt(static_cast<double>(D));
  HeadWeights h;
  const double inv_c = 1.0 / std::sqrt(static_cast<double>(C));
  const double eps = 0.6;  // W_k = sqrt(1 - eps^2) W_q + eps N: similar content attends, but not symmetrically
  h.wq.resize(static_cast<std::size_t>(D * C));
  h.wk.resize(h.wq.size());
  h.wv.resize(h.wq.size());
  for (std::size_t i = 0; i < h.wq.size(); ++i) {
    h.wq[i] = static_cast<float>(rng.normal() * inv_c);
    h.wk[i] = static_cast<float>(std::sqrt(1 - eps * eps) * h.wq[i] + eps * rng.normal() * inv_c);
    h.wv[i] = static_cast<float>(rng.normal() * inv_c);
  }
  // Content self-logit (after 1/sqrt(D)) of about G: each projected component has unit variance.
  const double content_logit = rng.uniform(2.0, 5.0);
  h.content_gain = std::sqrt(content_logit / rootd);
  // Positional peak logit P, split over the axes by random weights (some heads temporal, some spatial), and
  // within an axis over its frequency pairs with weight f^beta: larger beta = more local head.
  const double peak = spec.rope_strength * rng.uniform(6.0, 12.0);
  double axis_w[3];
  double axis_sum = 0;
  for (double& a : axis_w) axis_sum += (a = -std::log(1.0 - rng.uniform()) + 0.05);
  const double beta = rng.uniform(0.5, 1.2);
  std::vector<double> band_sum(3, 0.0);
  for (std::size_t p = 0; p < rope.freq.size(); ++p) band_sum[static_cast<std::size_t>(rope.axis[p])] += std::pow(rope.freq[p], beta);
  h.u.assign(static_cast<std::size_t>(D), 0.0f);
  for (std::size_t p = 0; p < rope.freq.size(); ++p) {
    const auto a = static_cast<std::size_t>(rope.axis[p]);
    const double energy = peak * rootd * (axis_w[a] / axis_sum) * std::pow(rope.freq[p], beta) / band_sum[a];
    const double phase = rng.uniform(0.0, 2.0 * M_PI), r = std::sqrt(energy);
    h.u[2 * p] = static_cast<float>(r * std::cos(phase));
    h.u[2 * p + 1] = static_cast<float>(r * std::sin(phase));
  }
  // Sinks: logit gain S = sink_q * sink_k / sqrt(D), with a small query part and a large key part.
  double norm = 0;
  h.sink.resize(static_cast<std::size_t>(D));
  for (auto& s : h.sink) {
    s = static_cast<float>(rng.normal());
    norm += static_cast<double>(s) * s;
  }
  for (auto& s : h.sink) s = static_cast<float>(s / std::sqrt(norm));
  const double gain = rng.uniform(4.0, 7.0);
  h.sink_q = 0.3 * std::sqrt(gain * rootd);
  h.sink_k = std::sqrt(gain * rootd) / 0.3;
  return h;
}

void check_spec(const WorkloadSpec& s) {
  const std::pair<const char*, std::int64_t> extents[] = {{"frames", s.frames}, {"height", s.height}, {"width", s.width},
                                                          {"heads", s.heads},   {"batch", s.batch}};
  for (const auto& [name, v] : extents)
    if (v < 1) throw Error(fmt::format("spec.{}", name), fmt::format("must be >= 1, got {}", v));
  if (s.head_dim < 2 || s.head_dim % 2) throw Error("spec.head_dim", fmt::format("must be even and >= 2, got {}", s.head_dim));
  if (s.text_tokens < 0) throw Error("spec.text_tokens", fmt::format("must be >= 0, got {}", s.text_tokens));
  if (s.sink_keys < 0 || s.sink_keys > s.frames * s.height * s.width)
    throw Error("spec.sink_keys", fmt::format("must be in [0, video tokens], got {}", s.sink_keys));
  if (!(s.content_correlation >= 0 && s.content_correlation < 1))
    throw Error("spec.content_correlation", fmt::format("must be in [0, 1), got {}", s.content_correlation));
  if (!(s.logit_scale > 0)) throw Error("spec.logit_scale", fmt::format("must be > 0, got {}", s.logit_scale));
  if (!(s.rope_strength >= 0)) throw Error("spec.rope_strength", fmt::format("must be >= 0, got {}", s.rope_strength));
}

}  // namespace

Qkv generate_workload(const WorkloadSpec& spec, DType dtype, Layout layout) {
  check_spec(spec);
  const std::int64_t T = spec.frames, Hg = spec.height, Wg = spec.width, D = spec.head_dim, NH = spec.heads;
  const std::int64_t video = T * Hg * Wg, text = spec.text_tokens, S = spec.seq();
  const std::int64_t C = std::max<std::int64_t>(8, std::min<std::int64_t>(32, D / 2));  // content channels
  const workload::Rope3d rope = workload::make_rope3d(D, spec.rope_dims);
  Rng rng(spec.seed);

  std::vector<HeadWeights> heads;
  for (std::int64_t h = 0; h < NH; ++h) heads.push_back(make_head(spec, rope, C, rng));
  std::vector<char> is_sink(static_cast<std::size_t>(video), 0);
  for (int placed = 0; placed < spec.sink_keys;) {
    const auto i = static_cast<std::size_t>(rng.below(video));
    if (!is_sink[i]) is_sink[i] = 1, ++placed;
  }

  // cos / sin of every pair at every position of its axis: [axis][pos][pair].
  const std::int64_t P = D / 2, extent[3] = {T, Hg, Wg};
  std::vector<std::vector<float>> cos_t(3), sin_t(3);
  for (int a = 0; a < 3; ++a) {
    cos_t[static_cast<std::size_t>(a)].assign(static_cast<std::size_t>(extent[a] * P), 1.0f);
    sin_t[static_cast<std::size_t>(a)].assign(static_cast<std::size_t>(extent[a] * P), 0.0f);
    for (std::int64_t pos = 0; pos < extent[a]; ++pos)
      for (std::int64_t p = 0; p < P; ++p)
        if (rope.axis[static_cast<std::size_t>(p)] == a) {
          const double ang = static_cast<double>(pos) * rope.freq[static_cast<std::size_t>(p)];
          cos_t[static_cast<std::size_t>(a)][static_cast<std::size_t>(pos * P + p)] = static_cast<float>(std::cos(ang));
          sin_t[static_cast<std::size_t>(a)][static_cast<std::size_t>(pos * P + p)] = static_cast<float>(std::sin(ang));
        }
  }

  Qkv out{HostTensor::zeros(dtype, layout, spec.batch, S, NH, D), HostTensor::zeros(dtype, layout, spec.batch, S, NH, D),
          HostTensor::zeros(dtype, layout, spec.batch, S, NH, D)};
  const TensorView qv = out.q.view(), kv = out.k.view(), vv = out.v.view();
  for (std::int64_t b = 0; b < spec.batch; ++b) {
    const std::vector<float> content =
        workload::make_content({T, Hg, Wg, C, spec.content_correlation}, rng);
    std::vector<float> text_content(static_cast<std::size_t>(text * C));
    for (auto& x : text_content) x = static_cast<float>(rng.normal());
    const std::int64_t chunk = 64;
    cpu::parallel_for((S + chunk - 1) / chunk, 0, [&](std::int64_t ci) {
      std::vector<float> qd(static_cast<std::size_t>(D)), kd(qd.size());
      for (std::int64_t s = ci * chunk; s < std::min(S, (ci + 1) * chunk); ++s) {
        const bool is_text = s < text;
        const std::int64_t vi = s - text;  // video token index
        const float* c = is_text ? text_content.data() + s * C : content.data() + vi * C;
        const std::int64_t pos[3] = {is_text ? 0 : vi / (Hg * Wg), is_text ? 0 : (vi / Wg) % Hg, is_text ? 0 : vi % Wg};
        for (std::int64_t h = 0; h < NH; ++h) {
          const HeadWeights& hw = heads[static_cast<std::size_t>(h)];
          for (std::int64_t d = 0; d < D; ++d) {
            float aq = 0, ak = 0, av = 0;
            const std::size_t row = static_cast<std::size_t>(d * C);
            for (std::int64_t j = 0; j < C; ++j) {
              aq += hw.wq[row + static_cast<std::size_t>(j)] * c[j];
              ak += hw.wk[row + static_cast<std::size_t>(j)] * c[j];
              av += hw.wv[row + static_cast<std::size_t>(j)] * c[j];
            }
            const float g = static_cast<float>(hw.content_gain);
            // Text tokens carry no position (as in HunyuanVideo): no positional vector, no rotation.
            qd[static_cast<std::size_t>(d)] = g * aq + (is_text ? 0.0f : hw.u[static_cast<std::size_t>(d)]);
            kd[static_cast<std::size_t>(d)] = g * ak + (is_text ? 0.0f : hw.u[static_cast<std::size_t>(d)]);
            store_from_float(vv.data, dtype, vv.offset(b, s, h, d), av);
          }
          if (!is_text)
            for (std::int64_t p = 0; p < P; ++p) {
              const auto a = static_cast<std::size_t>(rope.axis[static_cast<std::size_t>(p)]);
              const auto at = static_cast<std::size_t>(pos[a] * P + p);
              const float cs = cos_t[a][at], sn = sin_t[a][at];
              for (float* x : {qd.data(), kd.data()}) {
                const float x0 = x[2 * p], x1 = x[2 * p + 1];
                x[2 * p] = x0 * cs - x1 * sn;
                x[2 * p + 1] = x0 * sn + x1 * cs;
              }
            }
          const bool sink = !is_text && is_sink[static_cast<std::size_t>(vi)];
          for (std::int64_t d = 0; d < D; ++d) {
            const float dir = hw.sink[static_cast<std::size_t>(d)];
            const float qval = (qd[static_cast<std::size_t>(d)] + static_cast<float>(hw.sink_q) * dir) *
                               static_cast<float>(spec.logit_scale);
            const float kval = kd[static_cast<std::size_t>(d)] + (sink ? static_cast<float>(hw.sink_k) * dir : 0.0f);
            store_from_float(qv.data, dtype, qv.offset(b, s, h, d), qval);
            store_from_float(kv.data, dtype, kv.offset(b, s, h, d), kval);
          }
        }
      }
    });
  }
  return out;
}

}  // namespace fgattn
