#include "mask_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <vector>

#include "fgattn/error.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

namespace fgattn::cli {
namespace {

constexpr int kMaxColumns = 640;   // keys are binned into at most this many pixel columns
constexpr int kPanelHeight = 320;  // pixel rows for the query blocks of one panel
constexpr int kGap = 24;

// Kept fraction of (query block, key bin) for head (b = 0, h = 0): rows = query blocks, columns = key bins.
struct Raster {
  int width = 0, height = 0;
  std::vector<float> kept;  // [height][width], 0..1
};

Raster rasterize(const Plan& plan) {
  const std::int64_t nqb = plan.query_blocks();
  Raster r;
  r.width = static_cast<int>(std::min<std::int64_t>(plan.seq_kv, kMaxColumns));
  r.height = static_cast<int>(std::min<std::int64_t>(kPanelHeight, std::max<std::int64_t>(nqb, 1)));
  r.kept.assign(static_cast<std::size_t>(r.width * r.height), 0.0f);
  // Keys per pixel column (2 or 3 when binning 2016 keys into 640 columns): a column is black only if all are kept.
  std::vector<float> keys_per_column(static_cast<std::size_t>(r.width), 0.0f);
  for (std::int64_t key = 0; key < plan.seq_kv; ++key) keys_per_column[static_cast<std::size_t>(key * r.width / plan.seq_kv)] += 1.0f;
  std::vector<float> count(r.kept.size(), 0.0f);
  for (std::int64_t qb = 0; qb < nqb; ++qb) {
    const int y = static_cast<int>(qb * r.height / nqb);
    for (auto key : plan.keys(plan.row_index(0, 0, qb)))
      r.kept[static_cast<std::size_t>(y * r.width + key * r.width / plan.seq_kv)] += 1.0f;
    for (int x = 0; x < r.width; ++x) count[static_cast<std::size_t>(y * r.width + x)] += keys_per_column[static_cast<std::size_t>(x)];
  }
  for (std::size_t i = 0; i < r.kept.size(); ++i) r.kept[i] = count[i] > 0 ? std::min(1.0f, r.kept[i] / count[i]) : 0.0f;
  return r;
}

unsigned char shade(float kept) { return static_cast<unsigned char>(255.0f * (1.0f - kept)); }  // kept = dark

void write_png(const Raster& a, const Raster& b, const std::string& path) {
  const int row_px = std::max(1, kPanelHeight / std::max(a.height, 1));
  const int width = a.width + kGap + b.width, height = std::max(a.height, b.height) * row_px;
  std::vector<unsigned char> pixels(static_cast<std::size_t>(width * height), 255);
  auto paint = [&](const Raster& r, int x0) {
    for (int y = 0; y < r.height * row_px; ++y)
      for (int x = 0; x < r.width; ++x)
        pixels[static_cast<std::size_t>(y * width + x0 + x)] = shade(r.kept[static_cast<std::size_t>((y / row_px) * r.width + x)]);
  };
  paint(a, 0);
  paint(b, a.width + kGap);
  if (!stbi_write_png(path.c_str(), width, height, 1, pixels.data(), width)) throw Error(path, "cannot write the PNG");
}

void write_svg(const Raster& a, const Raster& b, const AnalysisReport& report, const std::string& path) {
  const int row_px = std::max(1, kPanelHeight / std::max(a.height, 1));
  const int top = 40, width = a.width + kGap + b.width, height = top + std::max(a.height, b.height) * row_px + 10;
  std::ofstream out(path);
  if (!out) throw Error(path, "cannot open the plot file for writing");
  out << fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">)",
                     width, height)
      << "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  const int M = report.block_m;
  auto panel = [&](const Raster& r, int x0, const std::string& title) {
    out << fmt::format("<text x=\"{}\" y=\"16\">{}</text>\n", x0, title);
    out << fmt::format("<text x=\"{}\" y=\"32\" fill=\"#555\">keys →, query blocks ↓ (head 0)</text>\n", x0);
    for (int y = 0; y < r.height; ++y)
      for (int x = 0; x < r.width;) {  // one rect per run of equal shade keeps the file small
        const unsigned char s = shade(r.kept[static_cast<std::size_t>(y * r.width + x)]);
        int end = x + 1;
        while (end < r.width && shade(r.kept[static_cast<std::size_t>(y * r.width + end)]) == s) ++end;
        if (s != 255)
          out << fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"rgb({},{},{})\"/>\n", x0 + x,
                             top + y * row_px, end - x, row_px, s, s, s);
        x = end;
      }
    out << fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", x0, top,
                       r.width, r.height * row_px);
  };
  panel(a, 0, fmt::format("{}x1 slices: {:.1f}% kept, error {:.2e}", M, 100 * report.fine.density, report.fine.rel_error));
  panel(b, a.width + kGap,
        fmt::format("{}x{} blocks: {:.1f}% kept, error {:.2e}", M, M, 100 * report.block_at_equal_error.density,
                    report.block_at_equal_error.rel_error));
  out << "</svg>\n";
  if (!out) throw Error(path, "writing the SVG failed");
}

}  // namespace

void write_mask_plot(const AnalysisReport& report, const std::string& path) {
  const auto ends_with = [&](const char* ext) {
    const std::string e(ext);
    return path.size() >= e.size() && std::equal(e.rbegin(), e.rend(), path.rbegin(),
                                                  [](char x, char y) { return std::tolower(x) == std::tolower(y); });
  };
  const Raster fine = rasterize(report.fine_plan), block = rasterize(report.block_plan);
  if (ends_with(".png")) return write_png(fine, block, path);
  if (ends_with(".svg")) return write_svg(fine, block, report, path);
  throw Error("--plot", fmt::format("'{}' must end in .png or .svg", path));
}

}  // namespace fgattn::cli
