// Round trips through .safetensors and .npy for every dtype and both layouts, and the layout interpretation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "common/io_files.h"
#include "common/random_inputs.h"
#include "fgattn/io.h"

using namespace fgattn;
using fgattn::testutil::TempDir;
using ::testing::HasSubstr;

namespace {

void expect_same(const HostTensor& a, const HostTensor& b) {
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.layout, b.layout);
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.bytes, b.bytes);
}

}  // namespace

class IoRoundTrip : public ::testing::TestWithParam<std::tuple<DType, Layout>> {};

TEST_P(IoRoundTrip, SafetensorsKeepsBytesShapeAndDtype) {
  const auto [dtype, layout] = GetParam();
  TempDir dir;
  std::mt19937_64 rng(7);
  const Qkv in{testutil::random_tensor(rng, dtype, layout, 2, 9, 3, 8), testutil::random_tensor(rng, dtype, layout, 2, 5, 3, 8),
               testutil::random_tensor(rng, dtype, layout, 2, 5, 3, 8)};
  const std::string path = dir.file("qkv.safetensors");
  write_safetensors(path, {{"q", to_raw_array(in.q)}, {"k", to_raw_array(in.k)}, {"v", to_raw_array(in.v)}});
  const Qkv out = load_qkv({path}, layout);
  expect_same(in.q, out.q);
  expect_same(in.k, out.k);
  expect_same(in.v, out.v);

  const auto arrays = read_safetensors(path);
  ASSERT_EQ(arrays.size(), 3u);
  const std::vector<std::int64_t> q_shape =
      layout == Layout::BSHD ? std::vector<std::int64_t>{2, 9, 3, 8} : std::vector<std::int64_t>{2, 3, 9, 8};
  EXPECT_EQ(arrays.at("q").shape, q_shape);
  EXPECT_EQ(arrays.at("q").dtype, dtype);
}

TEST_P(IoRoundTrip, NpyKeepsBytesShapeAndDtype) {
  const auto [dtype, layout] = GetParam();
  TempDir dir;
  std::mt19937_64 rng(8);
  const HostTensor t = testutil::random_tensor(rng, dtype, layout, 1, 6, 2, 4);
  const std::string path = dir.file("t.npy");
  if (dtype == DType::bf16) {  // numpy has no bfloat16: refused clearly rather than silently converted
    EXPECT_THAT(testutil::error_of([&] { write_npy(path, to_raw_array(t)); }), HasSubstr("bfloat16"));
    return;
  }
  write_npy(path, to_raw_array(t));
  expect_same(t, to_host_tensor(read_npy(path), layout, path));
}

INSTANTIATE_TEST_SUITE_P(AllDtypesAndLayouts, IoRoundTrip,
                         ::testing::Combine(::testing::Values(DType::bf16, DType::f16, DType::f32),
                                            ::testing::Values(Layout::BSHD, Layout::BHSD)));

TEST(IoLayout, BhsdFileIsReadAsBhsdBuffer) {
  // A [B=1, H=2, S=3, D=2] file: element (b, h, s, d) holds 100h + 10s + d.
  RawArray a;
  a.dtype = DType::f32;
  a.shape = {1, 2, 3, 2};
  for (int h = 0; h < 2; ++h)
    for (int s = 0; s < 3; ++s)
      for (int d = 0; d < 2; ++d) {
        const float x = static_cast<float>(100 * h + 10 * s + d);
        const auto* p = reinterpret_cast<const std::byte*>(&x);
        a.bytes.insert(a.bytes.end(), p, p + 4);
      }
  const HostTensor bhsd = to_host_tensor(a, Layout::BHSD, "bhsd");
  EXPECT_EQ(bhsd.shape, (std::array<std::int64_t, 4>{1, 3, 2, 2}));
  EXPECT_FLOAT_EQ(bhsd.at(0, 2, 1, 1), 121.0f);
  EXPECT_FLOAT_EQ(bhsd.at(0, 1, 0, 0), 10.0f);
  const HostTensor bshd = to_host_tensor(a, Layout::BSHD, "bshd");  // same bytes seen as [B, S=2, H=3, D]
  EXPECT_EQ(bshd.shape, (std::array<std::int64_t, 4>{1, 2, 3, 2}));
  EXPECT_FLOAT_EQ(bshd.at(0, 1, 2, 1), 121.0f);
  EXPECT_EQ(to_raw_array(bhsd).shape, a.shape);
}

TEST(IoNpy, ReadsVersions2And3AndScalars) {
  TempDir dir;
  const float values[2] = {1.5f, -2.0f};
  const std::string data(reinterpret_cast<const char*>(values), sizeof values);
  for (int major : {2, 3}) {
    const std::string path = dir.file("v" + std::to_string(major) + ".npy");
    testutil::write_file(path, testutil::npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", data, major));
    const RawArray a = read_npy(path);
    EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2}));
    EXPECT_EQ(a.bytes.size(), 8u);
  }
  const std::string scalar = dir.file("scalar.npy");
  testutil::write_file(scalar, testutil::npy_bytes("{\"shape\": (), \"fortran_order\": False, \"descr\": \"<f4\"}", data.substr(0, 4)));
  EXPECT_TRUE(read_npy(scalar).shape.empty());
}

TEST(IoSafetensors, AcceptsMetadataAndPaddedHeader) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  testutil::write_file(path, testutil::safetensors_bytes(
                                 R"({"__metadata__": {"format": "pt"}, "x": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}   )",
                                 std::string(4, '\1')));
  const auto arrays = read_safetensors(path);
  ASSERT_EQ(arrays.size(), 1u);
  EXPECT_EQ(arrays.at("x").dtype, DType::f16);
}

TEST(IoQkv, IgnoresOtherTensorsEvenOfUnreadDtypes) {
  TempDir dir;
  std::mt19937_64 rng(9);
  const std::string path = dir.file("capture.safetensors");
  std::map<std::string, RawArray> arrays;
  for (const char* name : {"q", "k", "v"})
    arrays[name] = to_raw_array(testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 4, 2, 8));
  write_safetensors(path, arrays);
  // Rewrite with an extra int64 tensor the reader does not support, placed after q, k, v.
  const std::string header = R"({"q": {"dtype": "BF16", "shape": [1, 4, 2, 8], "data_offsets": [0, 128]},)"
                             R"( "k": {"dtype": "BF16", "shape": [1, 4, 2, 8], "data_offsets": [128, 256]},)"
                             R"( "v": {"dtype": "BF16", "shape": [1, 4, 2, 8], "data_offsets": [256, 384]},)"
                             R"( "step": {"dtype": "I64", "shape": [], "data_offsets": [384, 392]}})";
  std::string buffer;
  for (const char* name : {"q", "k", "v"}) buffer.append(reinterpret_cast<const char*>(arrays[name].bytes.data()), 128);
  buffer += std::string(8, '\0');
  testutil::write_file(path, testutil::safetensors_bytes(header, buffer));
  const Qkv t = load_qkv({path}, Layout::BSHD);
  EXPECT_EQ(t.k.bytes, arrays["k"].bytes);
  EXPECT_THAT(testutil::error_of([&] { read_safetensors(path); }), HasSubstr("I64"));
}

TEST(IoQkv, QueriesAndKeysMayDifferInLength) {
  TempDir dir;
  std::mt19937_64 rng(10);
  std::vector<std::string> paths;
  for (std::int64_t s : {7, 3, 3}) {
    paths.push_back(dir.file("t" + std::to_string(paths.size()) + ".npy"));
    write_npy(paths.back(), to_raw_array(testutil::random_tensor(rng, DType::f16, Layout::BHSD, 2, s, 2, 4)));
  }
  const Qkv t = load_qkv(paths, Layout::BHSD);
  EXPECT_EQ(t.q.shape, (std::array<std::int64_t, 4>{2, 7, 2, 4}));
  EXPECT_EQ(t.k.shape, (std::array<std::int64_t, 4>{2, 3, 2, 4}));
}
