#pragma once
// A packed f32 BSHD copy of a CPU tensor view, so the analyses measure errors without the input dtype's layout
// or the output dtype's rounding getting in the way.
#include "fgattn/error.h"
#include "fgattn/tensor.h"

namespace fgattn::analysis {

inline HostTensor to_f32(const TensorView& t, const char* name) {
  if (t.device != Device::cpu) throw Error(name, "the CPU analysis needs CPU tensors");
  HostTensor r = HostTensor::zeros(DType::f32, Layout::BSHD, t.shape[0], t.shape[1], t.shape[2], t.shape[3]);
  for (std::int64_t b = 0; b < t.shape[0]; ++b)
    for (std::int64_t s = 0; s < t.shape[1]; ++s)
      for (std::int64_t h = 0; h < t.shape[2]; ++h)
        for (std::int64_t d = 0; d < t.shape[3]; ++d) r.set(b, s, h, d, load_as_float(t.data, t.dtype, t.offset(b, s, h, d)));
  return r;
}

}  // namespace fgattn::analysis
