#pragma once
// Error messages for the op's TORCH_CHECKs, built into one std::string before c10 sees them.
//
// Why not pass the pieces to TORCH_CHECK: c10::str streams each piece through a std::ostringstream whose code is
// instantiated in this library. Built with g++ 13.3 on the GPU machine, the library held its own copies of the stream
// code (54 std::num_put / _M_insert<long> symbols), and streaming an integer segfaulted inside them instead of
// raising (2026-12-01, cuda-gdb backtrace; both device logs are in git history at bff70b3, bench/results/logs/). Numbers go through std::to_string here, c10 types through c10's
// own compiled to-string functions, so no stream in this library formats a number.
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <c10/util/ArrayRef.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace fgattn_torch {
namespace detail {

inline void append(std::string& s, std::string_view text) { s += text; }
inline void append(std::string& s, const c10::Device& device) { s += device.str(); }
inline void append(std::string& s, c10::ScalarType type) { s += c10::toString(type); }
inline void append(std::string& s, c10::IntArrayRef sizes) {
  s += '[';
  for (std::size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  s += ']';
}
template <class T,
          std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, char> && !std::is_same_v<T, bool>, int> = 0>
void append(std::string& s, T number) {
  s += std::to_string(number);
}

}  // namespace detail

// message("got ", 3, " of ", t.sizes()) == "got 3 of [2, 5]"
template <class... Pieces>
std::string message(const Pieces&... pieces) {
  std::string s;
  (detail::append(s, pieces), ...);
  return s;
}

}  // namespace fgattn_torch
