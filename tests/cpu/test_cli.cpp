// The command-line tool end to end: help, bad usage, bad files, and the JSON report on a real file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "common/random_inputs.h"
#include "common/run_cli.h"
#include "fgattn/io.h"

using namespace fgattn;
using ::testing::HasSubstr;

namespace {

using Result = testutil::CliResult;
using testutil::run_cli;

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("fgattn_cli_" + std::to_string(::getpid()) + "_" + name);
}

}  // namespace

TEST(Cli, EverySubcommandHasHelp) {
  const Result top = run_cli("--help");
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_THAT(top.output, HasSubstr("demo"));
  EXPECT_THAT(top.output, HasSubstr("analyze"));
  for (const char* cmd : {"demo --help", "analyze --help"}) {
    const Result r = run_cli(cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_THAT(r.output, HasSubstr("--json")) << cmd;
  }
}

TEST(Cli, BadUsageGivesOneLineAndExitTwo) {
  for (const char* cmd : {"", "frobnicate", "demo --block-m 0", "demo --tau 2", "analyze", "analyze /no/such/file.safetensors",
                          "demo --no-such-flag"}) {
    const Result r = run_cli(cmd);
    EXPECT_EQ(r.exit_code, 2) << cmd << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("fgattn: error:")) << cmd;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << cmd << ": " << r.output;
  }
}

TEST(Cli, BadDataGivesOneLineAndExitOne) {
  const Result unknown_preset = run_cli("demo --preset nope -q");
  EXPECT_EQ(unknown_preset.exit_code, 1);
  EXPECT_THAT(unknown_preset.output, HasSubstr("preset"));

  const auto garbage = temp_file("garbage.safetensors");
  {
    std::ofstream out(garbage, std::ios::binary);
    out << "this is not a safetensors file at all";
  }
  const Result corrupt = run_cli("analyze -q " + garbage.string());
  EXPECT_GE(corrupt.exit_code, 1);
  EXPECT_LE(corrupt.exit_code, 2);
  EXPECT_THAT(corrupt.output, HasSubstr(garbage.string()));
  EXPECT_EQ(std::count(corrupt.output.begin(), corrupt.output.end(), '\n'), 1) << corrupt.output;
  std::filesystem::remove(garbage);

  const Result bad_plot = run_cli("demo --preset tiny -q --plot out.bmp");
  EXPECT_EQ(bad_plot.exit_code, 1);
  EXPECT_THAT(bad_plot.output, HasSubstr(".png or .svg"));
}

TEST(Cli, DemoJsonHasTheReportFields) {
  const auto plot = temp_file("mask.svg");
  const Result r = run_cli("demo --preset tiny -M 16 --json -q --plot " + plot.string(), true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["preset"], "tiny");
  EXPECT_EQ(j["M"], 16);
  for (const char* key : {"predictor", "tau", "density", "rel_error"}) EXPECT_TRUE(j["fine"].contains(key)) << key;
  for (const char* key : {"block", "density", "rel_error"}) EXPECT_TRUE(j["block_at_equal_error"].contains(key)) << key;
  EXPECT_EQ(j["fine"]["predictor"], "oracle");
  EXPECT_LE(j["block_at_equal_error"]["rel_error"].get<double>(), j["fine"]["rel_error"].get<double>());
  EXPECT_GT(j["rows"].size(), 3u);
  std::ifstream svg(plot);
  const std::string text((std::istreambuf_iterator<char>(svg)), {});
  EXPECT_THAT(text, HasSubstr("<svg"));
  EXPECT_THAT(text, HasSubstr("16x1 slices"));
  std::filesystem::remove(plot);
}

TEST(Cli, AnalyzeReadsASafetensorsFileWithQKV) {
  std::mt19937_64 rng(3);
  const auto path = temp_file("qkv.safetensors");
  std::map<std::string, RawArray> arrays;
  arrays["q"] = to_raw_array(testutil::random_tensor(rng, DType::bf16, Layout::BHSD, 1, 70, 2, 16));
  arrays["k"] = to_raw_array(testutil::random_tensor(rng, DType::bf16, Layout::BHSD, 1, 70, 2, 16));
  arrays["v"] = to_raw_array(testutil::random_tensor(rng, DType::bf16, Layout::BHSD, 1, 70, 2, 16));
  write_safetensors(path.string(), arrays);
  const auto png = temp_file("mask.png");
  const Result r = run_cli("analyze --layout bhsd -M 32 --json -q --plot " + png.string() + " " + path.string(), true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["input"], path.string());
  EXPECT_EQ(j["q_shape"], (std::vector<int>{1, 70, 2, 16}));
  EXPECT_TRUE(std::filesystem::file_size(png) > 0);
  const Result table = run_cli("analyze --layout bhsd -M 32 -q " + path.string());
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.output, HasSubstr("At equal error"));
  std::filesystem::remove(path);
  std::filesystem::remove(png);
}
