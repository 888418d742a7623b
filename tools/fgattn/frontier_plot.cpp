#include "frontier_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <vector>

#include "fgattn/error.h"

namespace fgattn::cli {
namespace {

constexpr double kWidth = 720, kHeight = 480, kLeft = 80, kRight = 150, kTop = 40, kBottom = 60;
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"};

// A log axis over whole decades covering [lo, hi].
struct LogAxis {
  double lo_exp = 0, hi_exp = 1;
  LogAxis(double lo, double hi) {
    lo_exp = std::floor(std::log10(lo));
    hi_exp = std::max(std::ceil(std::log10(hi)), lo_exp + 1);
  }
  double frac(double x) const { return (std::log10(x) - lo_exp) / (hi_exp - lo_exp); }
};

}  // namespace

void write_frontier_svg(const FrontierReport& report, const std::string& title, const std::string& path) {
  const bool timed = std::all_of(report.points.begin(), report.points.end(), [](const auto& p) { return p.ms.has_value(); });
  auto x_of = [&](const FrontierPoint& p) { return timed ? *p.ms : p.kept_fraction; };
  // Dense points have zero error (no place on a log axis): they become vertical reference lines.
  double x_lo = std::numeric_limits<double>::max(), x_hi = 0, y_lo = std::numeric_limits<double>::max(), y_hi = 0;
  std::vector<std::string> series;
  for (const auto& p : report.points) {
    if (x_of(p) > 0) x_lo = std::min(x_lo, x_of(p)), x_hi = std::max(x_hi, x_of(p));
    if (p.series == "dense" || p.rel_l2 <= 0) continue;
    y_lo = std::min(y_lo, p.rel_l2), y_hi = std::max(y_hi, p.rel_l2);
    if (std::find(series.begin(), series.end(), p.series) == series.end()) series.push_back(p.series);
  }
  if (series.empty() || x_hi <= 0) throw Error("frontier plot", "no point with a positive error and cost to plot");
  const LogAxis xa(x_lo, x_hi), ya(y_lo, y_hi);
  const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + xa.frac(x) * pw; };
  auto py = [&](double y) { return kTop + (1.0 - ya.frac(y)) * ph; };

  std::ofstream out(path);
  if (!out) throw Error(path, "cannot open the frontier plot for writing");
  out << fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">)",
                     kWidth, kHeight)
      << "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out << fmt::format("<text x=\"{}\" y=\"22\" font-size=\"14\">{}</text>\n", kLeft, title);
  // Decade grid and labels.
  for (double e = xa.lo_exp; e <= xa.hi_exp; ++e) {
    const double x = px(std::pow(10.0, e));
    out << fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#ddd\"/>\n", x, kTop, kTop + ph);
    out << fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:g}</text>\n", x, kTop + ph + 16, std::pow(10.0, e));
  }
  for (double e = ya.lo_exp; e <= ya.hi_exp; ++e) {
    const double y = py(std::pow(10.0, e));
    out << fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", kLeft, y, kLeft + pw, y);
    out << fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n", kLeft - 6, y + 4, std::pow(10.0, e));
  }
  out << fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", kLeft, kTop, pw, ph);
  out << fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", kLeft + pw / 2, kHeight - 18,
                     timed ? "kernel time (ms, median, log scale)" : "kept fraction of M x 1 slices (log scale; untimed CPU sweep)");
  out << fmt::format("<text transform=\"translate(18,{}) rotate(-90)\" text-anchor=\"middle\">output error vs dense "
                     "(relative L2, log scale)</text>\n", kTop + ph / 2);
  for (const auto& p : report.points)
    if (p.series == "dense" && x_of(p) > 0)
      out << fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#888\" stroke-dasharray=\"4,3\"/>"
                         "<text x=\"{0:.1f}\" y=\"{3}\" font-size=\"10\" fill=\"#555\" text-anchor=\"end\">dense M={4}</text>\n",
                         px(x_of(p)), kTop, kTop + ph, kTop + 12 + (p.block_m == 64 ? 12 : 0), p.block_m);
  // One polyline per series, in tau order, with a marker per point.
  for (std::size_t i = 0; i < series.size(); ++i) {
    const char* color = kColors[i % std::size(kColors)];
    std::string line;
    for (const auto& p : report.points)
      if (p.series == series[i] && p.rel_l2 > 0 && x_of(p) > 0) {
        line += fmt::format("{:.1f},{:.1f} ", px(x_of(p)), py(p.rel_l2));
        out << fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{} tau*Skv={:g} kept={:.4f} "
                           "err={:.3e}</title></circle>\n", px(x_of(p)), py(p.rel_l2), color, p.series, p.tau_factor,
                           p.kept_fraction, p.rel_l2);
      }
    out << fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", line, color);
    const double ly = kTop + 14 + 18 * static_cast<double>(i);
    out << fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"2\"/>"
                       "<text x=\"{4}\" y=\"{5}\">{6}</text>\n", kLeft + pw + 12, ly, kLeft + pw + 36, color, kLeft + pw + 42,
                       ly + 4, series[i]);
  }
  out << "</svg>\n";
  if (!out) throw Error(path, "writing the frontier SVG failed");
}

}  // namespace fgattn::cli
