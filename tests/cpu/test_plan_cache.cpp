#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "common/random_inputs.h"
#include "fgattn/error.h"
#include "fgattn/plan_cache.h"

using namespace fgattn;

TEST(PlanCache, RefreshesOnTheScheduleAndReusesInBetween) {
  PlanCache cache(RefreshSchedule{{0, 3}});
  EXPECT_TRUE(cache.needs_plan(0, 0));
  EXPECT_TRUE(cache.needs_plan(5, 1));  // no plan yet for layer 5
  cache.put(0, dense_plan(1, 1, 8, 8, 4));
  EXPECT_FALSE(cache.needs_plan(0, 1));
  EXPECT_FALSE(cache.needs_plan(0, 2));
  EXPECT_TRUE(cache.needs_plan(0, 3));
  EXPECT_EQ(cache.get(0).nnz(), 2 * 8);
  EXPECT_THROW(cache.get(1), Error);
  Plan broken = dense_plan(1, 1, 8, 8, 4);
  broken.indices[0] = 9;
  EXPECT_THROW(cache.put(1, broken), Error);
  EXPECT_THROW(cache.put(-1, dense_plan(1, 1, 8, 8, 4)), Error);
}

TEST(PlanCache, SavesAndLoadsEveryLayer) {
  std::mt19937_64 rng(4);
  PlanCache cache;
  for (int layer : {0, 7, 29}) cache.put(layer, testutil::random_plan(rng, 1, 2, 100, 90, 64, 0.3));
  const auto folder = std::filesystem::temp_directory_path() / ("fgattn_cache_" + std::to_string(rng()));
  cache.save(folder.string());
  std::filesystem::create_directories(folder / "layer_3.fgplan.d");  // not a plan file: ignored
  const PlanCache back = PlanCache::load(folder.string());
  ASSERT_EQ(back.size(), 3u);
  for (int layer : {0, 7, 29}) {
    EXPECT_EQ(back.get(layer).indices, cache.get(layer).indices);
    EXPECT_EQ(back.get(layer).offsets, cache.get(layer).offsets);
  }
  std::filesystem::remove_all(folder);
  EXPECT_THROW(PlanCache::load(folder.string()), Error);
}
