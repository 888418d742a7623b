// The timed frontier on the GPU (small preset): every point timed, the dense kernel close to the double reference,
// and each point's kept fraction and error close to the CPU sweep's on the same bf16 inputs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <utility>

#include "common/error_of.h"
#include "cuda/attention_test_util.h"
#include "fgattn/frontier.h"
#include "fgattn/workload.h"

using namespace fgattn;
using ::testing::HasSubstr;

TEST(FrontierCuda, SmallPresetIsTimedAndAgreesWithTheCpuSweep) {
  ASSERT_TRUE(frontier_can_time());
  const Qkv qkv = generate_workload(preset("small"), DType::bf16);  // both sweeps see the same rounded inputs
  FrontierOptions options;
  options.tau_factors = {0.25, 1, 4, 16, 64};
  options.warmup = 1;
  options.reps = 5;
  const FrontierReport gpu = frontier_cuda(qkv.q.view(), qkv.k.view(), qkv.v.view(), options);
  const FrontierReport cpu = frontier_cpu(qkv.q.view(), qkv.k.view(), qkv.v.view(), options);
  EXPECT_EQ(gpu.backend, "cuda");
  EXPECT_FALSE(gpu.device.empty());
  ASSERT_TRUE(gpu.dense_vs_double_rel_l2.has_value());
  const double floor = *gpu.dense_vs_double_rel_l2;
  EXPECT_GT(floor, 0.0);
  EXPECT_LT(floor, 1e-2) << "the dense kernel is far from the double reference";

  std::map<std::pair<std::string, double>, FrontierPoint> cpu_points;
  for (const auto& p : cpu.points) cpu_points[{p.series + std::to_string(p.block_m), p.tau_factor}] = p;
  int compared = 0;
  for (const auto& p : gpu.points) {
    SCOPED_TRACE(::testing::Message() << p.series << " M=" << p.block_m << " tau*Skv=" << p.tau_factor);
    ASSERT_TRUE(p.ms.has_value());
    EXPECT_GT(*p.ms, 0.0);
    EXPECT_TRUE(std::isfinite(*p.ms));
    if (p.series == "dense") EXPECT_EQ(p.rel_l2, 0.0);
    const auto it = cpu_points.find({p.series + std::to_string(p.block_m), p.tau_factor});
    if (it == cpu_points.end()) continue;  // one sweep stopped a point earlier (max_error)
    ++compared;
    // GPU and CPU oracles differ only on keys scored within rounding of tau; errors differ by the kernel's rounding.
    EXPECT_NEAR(p.kept_fraction, it->second.kept_fraction, 0.01);
    EXPECT_NEAR(p.rel_l2, it->second.rel_l2, 0.1 * it->second.rel_l2 + 3 * floor + 1e-3);
  }
  EXPECT_GE(compared, 20);
  EXPECT_EQ(gpu.targets.size(), options.target_errors.size() * 5);
  for (const auto& t : gpu.targets) EXPECT_TRUE(t.ms.has_value()) << t.series;
  for (const auto& r : gpu.ratios) EXPECT_TRUE(r.time_ratio.has_value());
}

TEST(FrontierCuda, RefusesF32DeviceTensors) {
  const Qkv qkv = generate_workload(preset("small"), DType::f32);
  const gputest::DeviceBuffer q(qkv.q), k(qkv.k), v(qkv.v);
  EXPECT_THAT(testutil::error_of([&] { frontier_cuda(q.view(qkv.q), k.view(qkv.k), v.view(qkv.v), {}); }), HasSubstr("bf16 or f16"));
}
