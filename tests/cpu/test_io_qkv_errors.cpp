// load_qkv and to_host_tensor: file-set rules (count, extensions, names) and q/k/v shape consistency.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "common/io_files.h"
#include "common/random_inputs.h"
#include "fgattn/io.h"

using namespace fgattn;
using fgattn::testutil::error_of;
using fgattn::testutil::TempDir;
using ::testing::HasSubstr;

namespace {

RawArray random_array(DType dtype, std::vector<std::int64_t> shape) {
  RawArray a;
  a.dtype = dtype;
  a.shape = std::move(shape);
  std::int64_t n = 1;
  for (auto e : a.shape) n *= e;
  a.bytes.resize(static_cast<std::size_t>(n) * dtype_size(dtype), std::byte{1});
  return a;
}

// Writes q, k, v as three .npy files and returns the loader's error message.
std::string npy_error(const TempDir& dir, const RawArray& q, const RawArray& k, const RawArray& v) {
  const std::vector<std::string> paths = {dir.file("q.npy"), dir.file("k.npy"), dir.file("v.npy")};
  write_npy(paths[0], q);
  write_npy(paths[1], k);
  write_npy(paths[2], v);
  return error_of([&] { load_qkv(paths, Layout::BSHD); });
}

}  // namespace

TEST(IoQkvErrors, ShapesMustAgree) {
  TempDir dir;
  const auto q = random_array(DType::f32, {1, 8, 2, 4});
  const auto kv = random_array(DType::f32, {1, 6, 2, 4});
  EXPECT_THAT(npy_error(dir, q, random_array(DType::f32, {2, 6, 2, 4}), kv), HasSubstr("B, H and D must agree"));
  EXPECT_THAT(npy_error(dir, q, kv, random_array(DType::f32, {1, 6, 3, 4})), HasSubstr("B, H and D must agree"));
  EXPECT_THAT(npy_error(dir, q, random_array(DType::f32, {1, 6, 2, 8}), kv), HasSubstr("B, H and D must agree"));
  EXPECT_THAT(npy_error(dir, q, kv, random_array(DType::f32, {1, 5, 2, 4})), HasSubstr("v has 5 keys but k has 6"));
  EXPECT_THAT(npy_error(dir, q, random_array(DType::f16, {1, 6, 2, 4}), kv), HasSubstr("dtype f16 differs"));
  EXPECT_THAT(npy_error(dir, q, kv, random_array(DType::f32, {1, 6, 2})), HasSubstr("expected a 4-d array"));
  EXPECT_THAT(npy_error(dir, q, kv, random_array(DType::f32, {1, 0, 2, 4})), HasSubstr("positive extents"));
  EXPECT_THAT(npy_error(dir, q, kv, kv), HasSubstr("no error"));
}

TEST(IoQkvErrors, MismatchNamesTheTensorInASafetensorsFile) {
  TempDir dir;
  const std::string path = dir.file("qkv.safetensors");
  write_safetensors(path, {{"q", random_array(DType::bf16, {1, 8, 2, 4})},
                           {"k", random_array(DType::bf16, {1, 8, 2, 4})},
                           {"v", random_array(DType::bf16, {1, 7, 2, 4})}});
  try {
    load_qkv({path}, Layout::BHSD);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), path + ":v");
  }
}

TEST(IoQkvErrors, MissingTensorsListTheFilesNames) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  write_safetensors(path, {{"query", random_array(DType::f32, {1, 2, 1, 4})}, {"k", random_array(DType::f32, {1, 2, 1, 4})}});
  const std::string message = error_of([&] { load_qkv({path}, Layout::BSHD); });
  EXPECT_THAT(message, HasSubstr("missing tensor \"q\""));
  EXPECT_THAT(message, HasSubstr("the file holds \"k\", \"query\""));
}

TEST(IoQkvErrors, FileSetRules) {
  TempDir dir;
  const std::string a = dir.file("a.npy"), st = dir.file("a.safetensors");
  write_npy(a, random_array(DType::f32, {1, 2, 1, 4}));
  write_safetensors(st, {});
  EXPECT_THAT(error_of([&] { load_qkv({}, Layout::BSHD); }), HasSubstr("no input file"));
  EXPECT_THAT(error_of([&] { load_qkv({a, a}, Layout::BSHD); }), HasSubstr("exactly 3 .npy files"));
  EXPECT_THAT(error_of([&] { load_qkv({a, a, a, a}, Layout::BSHD); }), HasSubstr("exactly 3 .npy files"));
  EXPECT_THAT(error_of([&] { load_qkv({a}, Layout::BSHD); }), HasSubstr("exactly 3 .npy files"));
  EXPECT_THAT(error_of([&] { load_qkv({dir.file("qkv.pt")}, Layout::BSHD); }), HasSubstr("unknown extension '.pt'"));
  EXPECT_THAT(error_of([&] { load_qkv({dir.file("qkv")}, Layout::BSHD); }), HasSubstr("unknown extension"));
  EXPECT_THAT(error_of([&] { load_qkv({st, a}, Layout::BSHD); }), HasSubstr("given alone"));
  EXPECT_THAT(error_of([&] { load_qkv({a, st, a}, Layout::BSHD); }), HasSubstr("mixing"));
  EXPECT_THAT(error_of([&] { load_qkv({st}, Layout::BSHD); }), HasSubstr("holds no tensors"));
  EXPECT_THAT(error_of([&] { load_qkv({dir.file("absent.safetensors")}, Layout::BSHD); }), HasSubstr("no such file"));
}

TEST(IoQkvErrors, ToHostTensorChecksByteCount) {
  RawArray a = random_array(DType::f32, {1, 2, 1, 4});
  a.bytes.pop_back();
  EXPECT_THAT(error_of([&] { to_host_tensor(a, Layout::BSHD, "q"); }), HasSubstr("holds 31 bytes"));
}
