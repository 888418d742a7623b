// The CPU reference against a brute-force second path: the full Sq x Skv score matrix in long double,
// masked from the plan's key lists, softmax by definition.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "common/random_inputs.h"
#include "fgattn/attention.h"
#include "fgattn/error.h"

using namespace fgattn;
using ::testing::HasSubstr;

namespace {

struct BruteForce {
  std::vector<long double> out;  // [B, Sq, H, D]
  std::vector<long double> lse;  // [B, H, Sq]
};

BruteForce brute_force(const HostTensor& q, const HostTensor& k, const HostTensor& v, const Plan& plan) {
  const auto B = q.shape[0], Sq = q.shape[1], H = q.shape[2], D = q.shape[3], Skv = k.shape[1];
  const long double scale = 1.0L / std::sqrt(static_cast<long double>(D));
  BruteForce r{std::vector<long double>(static_cast<std::size_t>(B * Sq * H * D)),
               std::vector<long double>(static_cast<std::size_t>(B * H * Sq))};
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t s = 0; s < Sq; ++s) {
        std::vector<bool> kept(static_cast<std::size_t>(Skv), false);
        for (auto key : plan.keys(plan.row_index(b, h, s / plan.block_m))) kept[static_cast<std::size_t>(key)] = true;
        std::vector<long double> logits(static_cast<std::size_t>(Skv), -std::numeric_limits<long double>::infinity());
        for (std::int64_t j = 0; j < Skv; ++j) {
          if (!kept[static_cast<std::size_t>(j)]) continue;
          long double dot = 0;
          for (std::int64_t d = 0; d < D; ++d) dot += static_cast<long double>(q.at(b, s, h, d)) * k.at(b, j, h, d);
          logits[static_cast<std::size_t>(j)] = dot * scale;
        }
        long double z = 0;
        for (auto l : logits) z += std::exp(l);  // exp(-inf) = 0 for dropped keys
        r.lse[static_cast<std::size_t>((b * H + h) * Sq + s)] = std::log(z);
        for (std::int64_t d = 0; d < D; ++d) {
          long double o = 0;
          for (std::int64_t j = 0; j < Skv; ++j)
            if (kept[static_cast<std::size_t>(j)]) o += std::exp(logits[static_cast<std::size_t>(j)]) / z * v.at(b, j, h, d);
          r.out[static_cast<std::size_t>(((b * Sq + s) * H + h) * D + d)] = z > 0 ? o : 0.0L;
        }
      }
  return r;
}

struct Case {
  std::int64_t B, Sq, Skv, H, D;
  int M;
  double keep;
  Layout layout;
};

void check_against_brute_force(const Case& c, std::uint64_t seed, const std::vector<std::int64_t>& empty_rows = {}) {
  std::mt19937_64 rng(seed);
  auto q = testutil::random_tensor(rng, DType::f32, c.layout, c.B, c.Sq, c.H, c.D);
  auto k = testutil::random_tensor(rng, DType::f32, c.layout, c.B, c.Skv, c.H, c.D, 2.0f);
  auto v = testutil::random_tensor(rng, DType::f32, c.layout, c.B, c.Skv, c.H, c.D);
  const Plan plan = testutil::random_plan(rng, c.B, c.H, c.Sq, c.Skv, c.M, c.keep, empty_rows);
  auto out = HostTensor::zeros(DType::f32, c.layout, c.B, c.Sq, c.H, c.D);
  for (std::int64_t i = 0; i < out.numel(); ++i) store_from_float(out.bytes.data(), DType::f32, i, std::nanf(""));  // poison
  auto lse = HostLse::sized(c.B, c.H, c.Sq);
  attention(q.view(), k.view(), v.view(), plan, out.view(), lse.values.data());
  const BruteForce ref = brute_force(q, k, v, plan);
  for (std::int64_t b = 0; b < c.B; ++b)
    for (std::int64_t s = 0; s < c.Sq; ++s)
      for (std::int64_t h = 0; h < c.H; ++h) {
        const bool empty = plan.keys(plan.row_index(b, h, s / c.M)).empty();
        const float l = lse.at(b, h, s);
        if (empty) {
          EXPECT_TRUE(std::isinf(l) && l < 0) << "empty row must give LSE = -inf";
        } else {
          EXPECT_NEAR(l, static_cast<double>(ref.lse[static_cast<std::size_t>((b * c.H + h) * c.Sq + s)]), 1e-5);
        }
        for (std::int64_t d = 0; d < c.D; ++d) {
          const float o = out.at(b, s, h, d);
          ASSERT_FALSE(std::isnan(o)) << "unwritten output at b=" << b << " s=" << s << " h=" << h << " d=" << d;
          EXPECT_NEAR(o, static_cast<double>(ref.out[static_cast<std::size_t>(((b * c.Sq + s) * c.H + h) * c.D + d)]), 1e-6);
        }
      }
}

}  // namespace

TEST(Reference, MatchesBruteForceOnRandomShapesAndPlans) {
  std::mt19937_64 rng(std::random_device{}());
  const std::uint64_t seed = rng();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::uniform_int_distribution<int> len(1, 150), dim(1, 40);
  for (int trial = 0; trial < 6; ++trial) {
    const Case c{1 + trial % 2, len(rng), len(rng), 1 + trial % 3, dim(rng), trial % 2 ? 64 : 16, 0.3,
                 trial % 2 ? Layout::BHSD : Layout::BSHD};
    SCOPED_TRACE(::testing::Message() << "Sq=" << c.Sq << " Skv=" << c.Skv << " D=" << c.D << " M=" << c.M);
    check_against_brute_force(c, seed + static_cast<std::uint64_t>(trial));
  }
}

TEST(Reference, OddLengthsEmptyRowsSingleKeyAndAllKeys) {
  check_against_brute_force({1, 131, 67, 2, 16, 64, 0.5, Layout::BSHD}, 1, {0, 3});  // short last block, empty rows
  check_against_brute_force({1, 5, 1, 1, 8, 128, 1.0, Layout::BSHD}, 2);              // a single key
  check_against_brute_force({2, 70, 129, 2, 32, 64, 1.0, Layout::BHSD}, 3);           // all keys
}

TEST(Reference, LayoutsGiveTheSameResult) {
  std::mt19937_64 rng(5);
  auto q = testutil::random_tensor(rng, DType::f32, Layout::BSHD, 1, 33, 3, 8);
  auto k = testutil::random_tensor(rng, DType::f32, Layout::BSHD, 1, 40, 3, 8);
  auto v = testutil::random_tensor(rng, DType::f32, Layout::BSHD, 1, 40, 3, 8);
  const Plan plan = testutil::random_plan(rng, 1, 3, 33, 40, 16, 0.4);
  auto to_bhsd = [](const HostTensor& t) {
    auto r = HostTensor::zeros(t.dtype, Layout::BHSD, t.shape[0], t.shape[1], t.shape[2], t.shape[3]);
    for (std::int64_t s = 0; s < t.shape[1]; ++s)
      for (std::int64_t h = 0; h < t.shape[2]; ++h)
        for (std::int64_t d = 0; d < t.shape[3]; ++d) r.set(0, s, h, d, t.at(0, s, h, d));
    return r;
  };
  auto out_a = HostTensor::zeros(DType::f32, Layout::BSHD, 1, 33, 3, 8);
  auto out_b = HostTensor::zeros(DType::f32, Layout::BHSD, 1, 33, 3, 8);
  attention(q.view(), k.view(), v.view(), plan, out_a.view(), nullptr);
  attention(to_bhsd(q).view(), to_bhsd(k).view(), to_bhsd(v).view(), plan, out_b.view(), nullptr);
  for (std::int64_t s = 0; s < 33; ++s)
    for (std::int64_t h = 0; h < 3; ++h)
      for (std::int64_t d = 0; d < 8; ++d) EXPECT_EQ(out_a.at(0, s, h, d), out_b.at(0, s, h, d));
}

TEST(Reference, ADifferentPlanChangesTheOutput) {
  std::mt19937_64 rng(9);
  auto q = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 64, 1, 16);
  auto k = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 64, 1, 16);
  auto v = testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 64, 1, 16);
  Plan plan = dense_plan(1, 1, 64, 64, 64);
  auto dense_out = HostTensor::zeros(DType::bf16, Layout::BSHD, 1, 64, 1, 16);
  attention(q.view(), k.view(), v.view(), plan, dense_out.view(), nullptr);
  plan.indices.erase(plan.indices.begin() + 10);  // drop one key
  plan.offsets.back() -= 1;
  auto sparse_out = HostTensor::zeros(DType::bf16, Layout::BSHD, 1, 64, 1, 16);
  attention(q.view(), k.view(), v.view(), plan, sparse_out.view(), nullptr);
  EXPECT_NE(dense_out.bytes, sparse_out.bytes);
}

TEST(AttentionArgs, BadArgumentsNameTheArgumentAndRule) {
  std::mt19937_64 rng(1);
  auto q = testutil::random_tensor(rng, DType::f32, Layout::BSHD, 1, 8, 2, 4);
  auto k = testutil::random_tensor(rng, DType::f32, Layout::BSHD, 1, 9, 2, 4);
  auto v = testutil::random_tensor(rng, DType::f32, Layout::BSHD, 1, 9, 2, 4);
  auto out = HostTensor::zeros(DType::f32, Layout::BSHD, 1, 8, 2, 4);
  const Plan plan = dense_plan(1, 2, 8, 9, 4);
  auto expect_error = [&](TensorView qv, TensorView kv, TensorView vv, TensorView ov, const Plan& p, const std::string& what) {
    try {
      attention(qv, kv, vv, p, ov, nullptr);
      ADD_FAILURE() << "expected an error containing " << what;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(what));
    }
  };
  auto bad = k.view();
  bad.shape[3] = 3;
  expect_error(q.view(), bad, v.view(), out.view(), plan, "k: shape");
  bad = v.view();
  bad.shape[1] = 8;
  expect_error(q.view(), k.view(), bad, out.view(), plan, "v: shape");
  auto bf = HostTensor::zeros(DType::bf16, Layout::BSHD, 1, 9, 2, 4);
  expect_error(q.view(), bf.view(), v.view(), out.view(), plan, "k: dtype bf16 differs");
  bad = q.view();
  bad.strides[3] = 2;
  expect_error(bad, k.view(), v.view(), out.view(), plan, "q: the head dimension must be contiguous");
  bad = out.view();
  bad.data = nullptr;
  expect_error(q.view(), k.view(), v.view(), bad, plan, "out: data pointer is null");
  expect_error(q.view(), k.view(), v.view(), out.view(), dense_plan(1, 2, 8, 10, 4), "plan: is for");
  Plan broken = plan;
  broken.indices[3] = 100;
  expect_error(q.view(), k.view(), v.view(), out.view(), broken, "out of range");
  bad = q.view();
  bad.device = Device::cuda;
  auto kc = k.view(), vc = v.view(), oc = out.view();
  kc.device = vc.device = oc.device = Device::cuda;
#ifndef FGATTN_WITH_CUDA
  expect_error(bad, kc, vc, oc, plan, "no CUDA kernels");
#endif
  expect_error(bad, k.view(), v.view(), out.view(), plan, "k: must be on the same device");
}
