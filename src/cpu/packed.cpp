#include "cpu/packed.h"

#include <fmt/format.h>

#include "cpu/parallel.h"
#include "fgattn/error.h"

namespace fgattn::cpu {

void check_qk(const TensorView& q, const TensorView& k) {
  if (q.device != Device::cpu) throw Error("q", "CPU predictors take host tensors");
  if (k.device != Device::cpu) throw Error("k", "CPU predictors take host tensors");
  if (q.data == nullptr || k.data == nullptr) throw Error(q.data ? "k" : "q", "data pointer is null");
  for (const auto* t : {&q, &k})
    for (int i = 0; i < 4; ++i)
      if (t->shape[static_cast<std::size_t>(i)] < 1)
        throw Error(t == &q ? "q" : "k", fmt::format("shape {} has an empty dimension", shape_string(t->shape)));
  if (q.strides[3] != 1 || k.strides[3] != 1) throw Error(q.strides[3] != 1 ? "q" : "k", "last dimension must be contiguous");
  if (k.batch() != q.batch()) throw Error("k", fmt::format("batch {} differs from q's {}", k.batch(), q.batch()));
  if (k.heads() != q.heads()) throw Error("k", fmt::format("heads {} differ from q's {}", k.heads(), q.heads()));
  if (k.head_dim() != q.head_dim())
    throw Error("k", fmt::format("head dim {} differs from q's {}", k.head_dim(), q.head_dim()));
}

std::vector<float> pack_head_major(const TensorView& t, int num_threads) {
  const std::int64_t B = t.batch(), S = t.seq(), H = t.heads(), D = t.head_dim();
  std::vector<float> out(static_cast<std::size_t>(B * H * S * D));
  parallel_for(B * H, num_threads, [&](std::int64_t bh) {
    const std::int64_t b = bh / H, h = bh % H;
    float* dst = out.data() + bh * S * D;
    for (std::int64_t s = 0; s < S; ++s) {
      const std::int64_t base = t.offset(b, s, h, 0);
      if (t.dtype == DType::f32) {
        const float* src = static_cast<const float*>(t.data) + base;
        for (std::int64_t d = 0; d < D; ++d) dst[s * D + d] = src[d];
      } else {
        for (std::int64_t d = 0; d < D; ++d) dst[s * D + d] = load_as_float(t.data, t.dtype, base + d);
      }
    }
  });
  return out;
}

}  // namespace fgattn::cpu
