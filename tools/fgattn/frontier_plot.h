#pragma once
// The frontier picture (SVG): error (relative L2, log) against kernel time (ms, log), one series per granularity;
// untimed (CPU) sweeps plot against the kept fraction instead.
#include <string>

#include "fgattn/frontier.h"

namespace fgattn::cli {

void write_frontier_svg(const FrontierReport& report, const std::string& title, const std::string& path);

}  // namespace fgattn::cli
