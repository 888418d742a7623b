#include "fgattn/tensor.h"

#include <fmt/format.h>

#include <limits>

#include "fgattn/error.h"

namespace fgattn {

std::array<std::int64_t, 4> packed_strides(Layout layout, std::int64_t B, std::int64_t S, std::int64_t H,
                                           std::int64_t D) {
  (void)B;
  if (layout == Layout::BSHD) return {S * H * D, H * D, D, 1};
  return {H * S * D, D, S * D, 1};  // [B, H, S, D] buffer seen as (B, S, H, D)
}

TensorView make_view(void* data, DType dtype, Device device, Layout layout, std::int64_t B, std::int64_t S,
                     std::int64_t H, std::int64_t D) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.device = device;
  v.shape = {B, S, H, D};
  v.strides = packed_strides(layout, B, S, H, D);
  return v;
}

HostTensor HostTensor::zeros(DType dtype, Layout layout, std::int64_t B, std::int64_t S, std::int64_t H,
                             std::int64_t D) {
  for (std::int64_t extent : {B, S, H, D})
    if (extent < 0) throw Error("shape", fmt::format("negative extent in [{}, {}, {}, {}]", B, S, H, D));
  HostTensor t;
  t.dtype = dtype;
  t.layout = layout;
  t.shape = {B, S, H, D};
  const auto limit = static_cast<long double>(std::numeric_limits<std::int64_t>::max() / 8);
  if (static_cast<long double>(B) * S * H * D > limit)
    throw Error("shape", fmt::format("[{}, {}, {}, {}] has too many elements", B, S, H, D));
  t.bytes.resize(static_cast<std::size_t>(t.numel()) * dtype_size(dtype));
  return t;
}

TensorView HostTensor::view() {
  return make_view(bytes.data(), dtype, Device::cpu, layout, shape[0], shape[1], shape[2], shape[3]);
}

TensorView HostTensor::view() const {
  return make_view(const_cast<std::byte*>(bytes.data()), dtype, Device::cpu, layout, shape[0], shape[1], shape[2],
                   shape[3]);
}

float HostTensor::at(std::int64_t b, std::int64_t s, std::int64_t h, std::int64_t d) const {
  return load_as_float(bytes.data(), dtype, view().offset(b, s, h, d));
}

void HostTensor::set(std::int64_t b, std::int64_t s, std::int64_t h, std::int64_t d, float value) {
  store_from_float(bytes.data(), dtype, view().offset(b, s, h, d), value);
}

HostTensor HostTensor::converted(DType to) const {
  HostTensor out = zeros(to, layout, shape[0], shape[1], shape[2], shape[3]);
  for (std::int64_t i = 0; i < numel(); ++i) store_from_float(out.bytes.data(), to, i, load_as_float(bytes.data(), dtype, i));
  return out;
}

HostLse HostLse::sized(std::int64_t B, std::int64_t H, std::int64_t S) {
  HostLse l;
  l.B = B;
  l.H = H;
  l.S = S;
  l.values.assign(static_cast<std::size_t>(B * H * S), 0.0f);
  return l;
}

std::string shape_string(const std::array<std::int64_t, 4>& s) {
  return fmt::format("[{}, {}, {}, {}]", s[0], s[1], s[2], s[3]);
}

}  // namespace fgattn
