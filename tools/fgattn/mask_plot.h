#pragma once
// A picture of one head's masks: the M x 1 plan beside the M x M plan at equal error (SVG or PNG by extension).
#include <string>

#include "fgattn/analysis.h"

namespace fgattn::cli {

void write_mask_plot(const AnalysisReport& report, const std::string& path);

}  // namespace fgattn::cli
