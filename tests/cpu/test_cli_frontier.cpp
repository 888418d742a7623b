// `fgattn bench --frontier` and `fgattn analyze --frontier` end to end on the CPU: files written, JSON complete,
// and the clear refusals (no --frontier; a large preset without the CUDA build).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "common/io_files.h"
#include "common/random_inputs.h"
#include "common/run_cli.h"
#include "fgattn/frontier.h"
#include "fgattn/io.h"

using namespace fgattn;
using ::testing::HasSubstr;

namespace {

using Result = testutil::CliResult;
using testutil::run_cli;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST(CliFrontier, BenchFrontierOnTinyWritesJsonAndSvg) {
  testutil::TempDir dir;
  const Result r = run_cli("bench --frontier --preset tiny -q --cpu --taus 0.25,1,4,16,64,256 --out-dir " + dir.file("out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("frontier_tiny.json"));
  const auto j = nlohmann::json::parse(read_text(dir.file("out/frontier_tiny.json")));
  EXPECT_EQ(j["preset"], "tiny");
  EXPECT_EQ(j["backend"], "cpu-reference");
  EXPECT_EQ(j["shape"]["S"], 256);
  std::set<std::string> series;
  for (const auto& p : j["points"]) {
    series.insert(p["series"].get<std::string>());
    for (const char* key : {"block_m", "block_n", "tau", "kept_fraction", "ms", "rel_l2", "psnr_db"}) EXPECT_TRUE(p.contains(key)) << key;
    EXPECT_TRUE(p["ms"].is_null());
  }
  EXPECT_EQ(series, (std::set<std::string>{"dense", "64x1", "128x1", "128x16", "64x64", "128x128"}));
  EXPECT_FALSE(j["summary"]["targets"].empty());
  EXPECT_FALSE(j["summary"]["ratios"].empty());
  EXPECT_EQ(j["summary"]["findings"].size(), j["summary"]["ratios"].size());
  const std::string svg = read_text(dir.file("out/frontier_tiny.svg"));
  EXPECT_THAT(svg, HasSubstr("<svg"));
  EXPECT_THAT(svg, HasSubstr("</svg>"));
  for (const char* name : {">64x1<", ">128x1<", ">128x16<", ">64x64<", ">128x128<"}) EXPECT_THAT(svg, HasSubstr(name));
  EXPECT_THAT(svg, HasSubstr("<polyline"));
}

TEST(CliFrontier, AnalyzeFrontierOnAFile) {
  testutil::TempDir dir;
  std::mt19937_64 rng(5);
  for (const char* name : {"q", "k", "v"})
    write_npy(dir.file(std::string(name) + ".npy"), to_raw_array(testutil::random_tensor(rng, DType::f32, Layout::BSHD, 1, 150, 2, 16, 2.0f)));
  const Result r = run_cli("analyze -q --json --frontier --cpu --taus 0.5,8 --out-dir " + dir.file("o") + " " + dir.file("q.npy") +
                           " " + dir.file("k.npy") + " " + dir.file("v.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(read_text(dir.file("o/frontier_q.json")));
  EXPECT_EQ(j["shape"]["S"], 150);
  EXPECT_TRUE(std::filesystem::exists(dir.file("o/frontier_q.svg")));
  EXPECT_EQ(nlohmann::json::parse(r.output)["points"].size(), j["points"].size());
  // The frontier sweeps its own tau and M: the single-plan options are refused beside it.
  EXPECT_EQ(run_cli("analyze -q --frontier --tau 0.1 " + dir.file("q.npy") + " " + dir.file("k.npy") + " " + dir.file("v.npy")).exit_code, 2);
  EXPECT_EQ(run_cli("analyze -q --out-dir x " + dir.file("q.npy") + " " + dir.file("k.npy") + " " + dir.file("v.npy")).exit_code, 2);
}

TEST(CliFrontier, RefusalsSayWhy) {
  const Result no_flag = run_cli("bench --preset tiny");
  EXPECT_EQ(no_flag.exit_code, 2);
  EXPECT_THAT(no_flag.output, HasSubstr("--frontier"));
  if (frontier_can_time()) GTEST_SKIP() << "a GPU is present: large presets are timed there";
  const Result big = run_cli("bench --frontier --preset wan480p -q");
  EXPECT_EQ(big.exit_code, 1);
  EXPECT_THAT(big.output, HasSubstr("CUDA build"));
  EXPECT_THAT(big.output, HasSubstr("32760 tokens"));
}
