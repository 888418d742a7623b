// Acceptance of the foundation issue, on the demo's default preset: the M x 1 oracle plan keeps fewer slices
// than the M x M block plan needs for the same output error. Slow (tens of seconds), so not run under ASan.
#include <gtest/gtest.h>

#include "fgattn/analysis.h"
#include "fgattn/workload.h"

using namespace fgattn;

TEST(DemoAcceptance, FineGrainedPlanNeedsLessDensityThanBlockPlanAtEqualError) {
  const Qkv qkv = generate_workload(preset("small"));
  for (int M : {64, 128}) {
    AnalysisOptions options;
    options.block_m = M;
    const AnalysisReport report = analyze(qkv.q.view(), qkv.k.view(), qkv.v.view(), options);
    SCOPED_TRACE("M = " + std::to_string(M));
    EXPECT_GT(report.fine.density, 0.0);
    EXPECT_LT(report.fine.density, 1.0);
    EXPECT_LE(report.block_at_equal_error.rel_error, report.fine.rel_error);
    EXPECT_LT(report.fine.density, report.block_at_equal_error.density);
  }
}
