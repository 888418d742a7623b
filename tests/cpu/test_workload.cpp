// The video-like generator: deterministic per seed, different across seeds, right shapes, finite values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "fgattn/error.h"
#include "fgattn/workload.h"

using namespace fgattn;

namespace {

bool same_bytes(const HostTensor& a, const HostTensor& b) { return a.bytes == b.bytes; }

void expect_finite_nonzero(const HostTensor& t) {
  std::int64_t nonzero = 0;
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const float x = load_as_float(t.bytes.data(), t.dtype, i);
    ASSERT_TRUE(std::isfinite(x)) << "element " << i;
    nonzero += x != 0.0f;
  }
  EXPECT_GT(nonzero, t.numel() * 9 / 10);
}

}  // namespace

TEST(Workload, PresetsAreListedAndUnknownNamesAreRejected) {
  const auto names = preset_names();
  for (const char* want : {"tiny", "small", "wan480p", "wan720p", "hunyuan720p"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  for (const auto& n : names) EXPECT_EQ(preset(n).name, n);
  EXPECT_EQ(preset("wan480p").seq(), 32760);
  EXPECT_EQ(preset("wan720p").seq(), 75600);
  EXPECT_EQ(preset("hunyuan720p").seq(), 75856);
  try {
    preset("no-such-preset");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), "preset");
    EXPECT_NE(std::string(e.what()).find("no-such-preset"), std::string::npos);
  }
}

TEST(Workload, ShapesFollowTheSpec) {
  WorkloadSpec spec = preset("tiny");
  spec.batch = 2;
  spec.text_tokens = 5;
  for (Layout layout : {Layout::BSHD, Layout::BHSD}) {
    const Qkv w = generate_workload(spec, DType::bf16, layout);
    for (const HostTensor* t : {&w.q, &w.k, &w.v}) {
      EXPECT_EQ(t->dtype, DType::bf16);
      EXPECT_EQ(t->layout, layout);
      EXPECT_EQ(t->shape, (std::array<std::int64_t, 4>{2, 4 * 8 * 8 + 5, 2, 32}));
      expect_finite_nonzero(*t);
    }
  }
}

TEST(Workload, DeterministicPerSeedAndDifferentAcrossSeeds) {
  WorkloadSpec spec = preset("tiny");
  const Qkv a = generate_workload(spec), b = generate_workload(spec);
  EXPECT_TRUE(same_bytes(a.q, b.q));
  EXPECT_TRUE(same_bytes(a.k, b.k));
  EXPECT_TRUE(same_bytes(a.v, b.v));
  spec.seed += 1;
  const Qkv c = generate_workload(spec);
  EXPECT_FALSE(same_bytes(a.q, c.q));
  EXPECT_FALSE(same_bytes(a.k, c.k));
  EXPECT_FALSE(same_bytes(a.v, c.v));
  // The layout changes the storage, not the values.
  const Qkv d = generate_workload(preset("tiny"), DType::f32, Layout::BHSD);
  for (std::int64_t s = 0; s < 256; s += 17)
    for (std::int64_t h = 0; h < 2; ++h) EXPECT_EQ(d.q.at(0, s, h, 3), a.q.at(0, s, h, 3));
}

TEST(Workload, AttentionIsLocalInSpaceAndTime) {
  // A query's strongest key is usually a grid neighbour (or a sink): the property the plans exploit.
  const WorkloadSpec spec = preset("tiny");
  const Qkv w = generate_workload(spec);
  const std::int64_t S = spec.seq(), HW = spec.height * spec.width;
  int near = 0, total = 0;
  for (std::int64_t h = 0; h < spec.heads; ++h)
    for (std::int64_t i = 0; i < S; i += 3, ++total) {
      std::int64_t best = 0;
      double best_logit = -1e300;
      for (std::int64_t j = 0; j < S; ++j) {
        if (j == i) continue;
        double d = 0;
        for (std::int64_t e = 0; e < spec.head_dim; ++e) d += static_cast<double>(w.q.at(0, i, h, e)) * w.k.at(0, j, h, e);
        if (d > best_logit) best_logit = d, best = j;
      }
      const std::int64_t dt = std::abs(i / HW - best / HW), dy = std::abs((i / spec.width) % spec.height - (best / spec.width) % spec.height),
                         dx = std::abs(i % spec.width - best % spec.width);
      near += dt <= 1 && dy <= 2 && dx <= 2;
    }
  EXPECT_GT(near, total / 3);
}

TEST(Workload, RejectsBadSpecs) {
  WorkloadSpec spec = preset("tiny");
  spec.head_dim = 31;
  EXPECT_THROW(generate_workload(spec), Error);
  spec = preset("tiny");
  spec.frames = 0;
  EXPECT_THROW(generate_workload(spec), Error);
  spec = preset("tiny");
  spec.rope_dims = {8, 8, 8};  // does not sum to 32
  EXPECT_THROW(generate_workload(spec), Error);
}
