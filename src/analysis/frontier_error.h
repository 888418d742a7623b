#pragma once
// Output error of a sparse plan against dense attention: relative L2 and a PSNR-style figure, in double.
#include <optional>
#include <span>

namespace fgattn::analysis {

struct OutputError {
  double rel_l2 = 0.0;              // ||out - dense|| / ||dense||
  std::optional<double> psnr_db;    // 10 log10(max|dense|^2 / mean squared error); absent when the error is 0
};

OutputError output_error(std::span<const float> out, std::span<const float> dense);

}  // namespace fgattn::analysis
