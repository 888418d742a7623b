#include "analysis/frontier_error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "fgattn/error.h"

namespace fgattn::analysis {

OutputError output_error(std::span<const float> out, std::span<const float> dense) {
  if (out.size() != dense.size())
    throw Error("out", fmt::format("has {} values, the dense output {}", out.size(), dense.size()));
  double diff = 0, norm = 0, peak = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double d = static_cast<double>(out[i]) - dense[i];
    diff += d * d;
    norm += static_cast<double>(dense[i]) * dense[i];
    peak = std::max(peak, std::abs(static_cast<double>(dense[i])));
  }
  OutputError e;
  e.rel_l2 = norm > 0 ? std::sqrt(diff / norm) : (diff > 0 ? std::numeric_limits<double>::infinity() : 0.0);
  // Peak signal = the dense output's largest magnitude (outputs are not in [0, 1] like images).
  if (diff > 0 && peak > 0) e.psnr_db = 10.0 * std::log10(peak * peak / (diff / static_cast<double>(out.size())));
  return e;
}

}  // namespace fgattn::analysis
