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
#include "fgattn/plan.h"
#include "fgattn/predict.h"

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
  EXPECT_THAT(top.output, HasSubstr("predict"));
  for (const char* cmd : {"demo --help", "analyze --help", "predict --help"}) {
    const Result r = run_cli(cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_THAT(r.output, HasSubstr("--json")) << cmd;
  }
}

TEST(Cli, BadUsageGivesOneLineAndExitTwo) {
  for (const char* cmd : {"", "frobnicate", "demo --block-m 0", "demo --tau 2", "analyze", "analyze /no/such/file.safetensors",
                          "demo --no-such-flag", "predict", "predict --predictor nope -o x.plan /dev/null"}) {
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

// `predict` writes the plan a pipeline loads: the same plan as the library's oracle on the same tensors.
TEST(Cli, PredictWritesThePlanFileOfTheOracle) {
  std::mt19937_64 rng(5);
  const auto path = temp_file("predict.safetensors");
  std::map<std::string, RawArray> arrays;
  for (const char* name : {"q", "k", "v"})
    arrays[name] = to_raw_array(testutil::random_tensor(rng, DType::f32, Layout::BSHD, 1, 70, 3, 16));
  write_safetensors(path.string(), arrays);
  const auto out = temp_file("predict.plan");
  const Result r = run_cli("predict -M 32 --heads 2 --json -o " + out.string() + " " + path.string(), true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["predictor"], "oracle");
  EXPECT_EQ(j["granularity"], "Mx1");
  EXPECT_EQ(j["q_shape"], (std::vector<int>{1, 70, 2, 16}));

  const Plan saved = load_plan(out.string());
  const Qkv qkv = load_qkv({path.string()}, Layout::BSHD);
  HostTensor q = HostTensor::zeros(DType::f32, Layout::BSHD, 1, 70, 2, 16), k = q;
  for (std::int64_t s = 0; s < 70; ++s)
    for (std::int64_t h = 0; h < 2; ++h)
      for (std::int64_t d = 0; d < 16; ++d) q.set(0, s, h, d, qkv.q.at(0, s, h, d)), k.set(0, s, h, d, qkv.k.at(0, s, h, d));
  OracleOptions options;
  options.block_m = 32;
  const Plan expected = oracle_plan(q.view(), k.view(), options).plan;
  EXPECT_EQ(saved.offsets, expected.offsets);
  EXPECT_EQ(saved.indices, expected.indices);
  EXPECT_EQ(saved.heads, 2);
  EXPECT_DOUBLE_EQ(j["density"].get<double>(), expected.density());

  const Result block = run_cli("predict -M 32 --block-n 32 -o " + out.string() + " " + path.string());
  EXPECT_EQ(block.exit_code, 0) << block.output;
  EXPECT_THAT(block.output, HasSubstr("oracle MxM plan (M=32"));
  const Result topcdf = run_cli("predict --predictor topcdf -M 32 --pool 8 --tau 0.5 --json -o " + out.string() + " " +
                                path.string(), true);
  ASSERT_EQ(topcdf.exit_code, 0) << topcdf.output;
  const double density = nlohmann::json::parse(topcdf.output)["density"].get<double>();
  EXPECT_GT(density, 0.0);
  EXPECT_EQ(load_plan(out.string()).nnz(), nlohmann::json::parse(topcdf.output)["nnz"].get<std::int64_t>());

  const Result too_many_heads = run_cli("predict --heads 4 -o " + out.string() + " " + path.string());
  EXPECT_EQ(too_many_heads.exit_code, 1);
  EXPECT_THAT(too_many_heads.output, HasSubstr("--heads: 4 exceeds the 3 heads"));
  const Result unwritable = run_cli("predict -M 32 -o /no/such/folder/x.plan " + path.string());
  EXPECT_EQ(unwritable.exit_code, 1) << unwritable.output;
  EXPECT_THAT(unwritable.output, HasSubstr("/no/such/folder/x.plan"));
  std::filesystem::remove(path);
  std::filesystem::remove(out);
}
