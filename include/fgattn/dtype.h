#pragma once
// Element types and host-side conversions (round to nearest even), shared by IO, the reference and tests.
#include <cstdint>
#include <cstring>
#include <string_view>

namespace fgattn {

enum class DType : std::uint8_t { bf16, f16, f32 };

constexpr std::size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }
std::string_view dtype_name(DType t);

float bf16_to_float(std::uint16_t bits);
std::uint16_t float_to_bf16(float x);
float f16_to_float(std::uint16_t bits);
std::uint16_t float_to_f16(float x);

// Reads/writes element i of a buffer of type t as float.
float load_as_float(const void* base, DType t, std::int64_t index);
void store_from_float(void* base, DType t, std::int64_t index, float value);
// Rounds a float to the nearest value representable in t (identity for f32).
float round_to(DType t, float x);

}  // namespace fgattn
