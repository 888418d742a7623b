#include "fgattn/dtype.h"

#include <cmath>
#include <limits>

namespace fgattn {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::f32: return "f32";
  }
  return "unknown";
}

float bf16_to_float(std::uint16_t bits) {
  const std::uint32_t u = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

std::uint16_t float_to_bf16(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if (std::isnan(x)) return static_cast<std::uint16_t>((u >> 16) | 0x40u);  // keep NaN a (quiet) NaN
  const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);               // round to nearest even
  return static_cast<std::uint16_t>((u + rounding) >> 16);
}

float f16_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  float magnitude;
  if (exp == 0) {
    magnitude = std::ldexp(static_cast<float>(mant), -24);  // zero or subnormal
  } else if (exp == 31) {
    magnitude = mant ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    magnitude = std::ldexp(static_cast<float>(mant | 0x400u), static_cast<int>(exp) - 25);
  }
  std::uint32_t u;
  std::memcpy(&u, &magnitude, sizeof u);
  u |= sign;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

std::uint16_t float_to_f16(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  if (std::isnan(x)) return static_cast<std::uint16_t>(sign | 0x7e00u);
  const float a = std::fabs(x);
  if (a >= 65520.0f) return static_cast<std::uint16_t>(sign | 0x7c00u);  // overflows to infinity
  if (a < std::ldexp(1.0f, -14)) {
    // Subnormal range: quantum 2^-24, nearbyint rounds half to even.
    const auto m = static_cast<std::uint16_t>(std::nearbyint(std::ldexp(a, 24)));
    return static_cast<std::uint16_t>(sign | m);
  }
  int e;
  const float frac = std::frexp(a, &e);  // a = frac * 2^e, frac in [0.5, 1)
  auto m = static_cast<std::uint32_t>(std::nearbyint(std::ldexp(frac, 11)));  // 11 significant bits
  if (m == 2048u) { m = 1024u; ++e; }
  const std::uint32_t exp = static_cast<std::uint32_t>(e - 1 + 15);
  if (exp >= 31) return static_cast<std::uint16_t>(sign | 0x7c00u);
  return static_cast<std::uint16_t>(sign | (exp << 10) | (m & 0x3ffu));
}

float load_as_float(const void* base, DType t, std::int64_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(base)[i];
    case DType::bf16: return bf16_to_float(static_cast<const std::uint16_t*>(base)[i]);
    case DType::f16: return f16_to_float(static_cast<const std::uint16_t*>(base)[i]);
  }
  return 0.0f;
}

void store_from_float(void* base, DType t, std::int64_t i, float value) {
  switch (t) {
    case DType::f32: static_cast<float*>(base)[i] = value; return;
    case DType::bf16: static_cast<std::uint16_t*>(base)[i] = float_to_bf16(value); return;
    case DType::f16: static_cast<std::uint16_t*>(base)[i] = float_to_f16(value); return;
  }
}

float round_to(DType t, float x) {
  switch (t) {
    case DType::f32: return x;
    case DType::bf16: return bf16_to_float(float_to_bf16(x));
    case DType::f16: return f16_to_float(float_to_f16(x));
  }
  return x;
}

}  // namespace fgattn
