#pragma once
// Non-owning tensor views and an owning host tensor.
// Every attention tensor is seen through the logical shape [B, S, H, D]; a [B, H, S, D] buffer is the
// same view with permuted strides. Strides are in elements; the last dimension must be contiguous.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "fgattn/dtype.h"

namespace fgattn {

enum class Device : std::uint8_t { cpu, cuda };
enum class Layout : std::uint8_t { BSHD, BHSD };

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::f32;
  Device device = Device::cpu;
  std::array<std::int64_t, 4> shape{};    // (B, S, H, D)
  std::array<std::int64_t, 4> strides{};  // element strides for (B, S, H, D)

  std::int64_t batch() const { return shape[0]; }
  std::int64_t seq() const { return shape[1]; }
  std::int64_t heads() const { return shape[2]; }
  std::int64_t head_dim() const { return shape[3]; }
  std::int64_t numel() const { return shape[0] * shape[1] * shape[2] * shape[3]; }
  std::int64_t offset(std::int64_t b, std::int64_t s, std::int64_t h, std::int64_t d) const {
    return b * strides[0] + s * strides[1] + h * strides[2] + d * strides[3];
  }
};

// Strides of a packed buffer stored in `layout`, expressed for the logical (B, S, H, D) view.
std::array<std::int64_t, 4> packed_strides(Layout layout, std::int64_t B, std::int64_t S, std::int64_t H,
                                           std::int64_t D);

TensorView make_view(void* data, DType dtype, Device device, Layout layout, std::int64_t B, std::int64_t S,
                     std::int64_t H, std::int64_t D);

// An owning, packed host tensor (used by the generator, the file readers and the CLI).
struct HostTensor {
  DType dtype = DType::f32;
  Layout layout = Layout::BSHD;
  std::array<std::int64_t, 4> shape{};  // logical (B, S, H, D)
  std::vector<std::byte> bytes;

  static HostTensor zeros(DType dtype, Layout layout, std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t D);
  TensorView view();
  TensorView view() const;  // data pointer is const-cast: read-only use only
  std::int64_t numel() const { return shape[0] * shape[1] * shape[2] * shape[3]; }
  float at(std::int64_t b, std::int64_t s, std::int64_t h, std::int64_t d) const;
  void set(std::int64_t b, std::int64_t s, std::int64_t h, std::int64_t d, float value);
  HostTensor converted(DType to) const;  // same layout, rounded to `to`
};

// LSE buffer: fp32 [B, H, Sq], natural log.
struct HostLse {
  std::int64_t B = 0, H = 0, S = 0;
  std::vector<float> values;
  static HostLse sized(std::int64_t B, std::int64_t H, std::int64_t S);
  float& at(std::int64_t b, std::int64_t h, std::int64_t s) { return values[static_cast<std::size_t>((b * H + h) * S + s)]; }
  float at(std::int64_t b, std::int64_t h, std::int64_t s) const { return values[static_cast<std::size_t>((b * H + h) * S + s)]; }
};

std::string shape_string(const std::array<std::int64_t, 4>& shape);

}  // namespace fgattn
