// Malformed .safetensors corpus: each file must give an fgattn::Error naming the file and the problem,
// never a crash, another exception type, or an allocation of what the header merely claims.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/io_files.h"
#include "fgattn/io.h"

using namespace fgattn;
using fgattn::testutil::error_of;
using fgattn::testutil::safetensors_bytes;
using fgattn::testutil::TempDir;
using ::testing::HasSubstr;

namespace {

struct Case {
  const char* name;
  std::string bytes;
  const char* expected;  // a phrase the message must contain
};

std::string entry(const std::string& fields) { return R"({"t": {)" + fields + "}}"; }

std::vector<Case> corpus() {
  const std::string ok_fields = R"("dtype": "F32", "shape": [2], "data_offsets": [0, 8])";
  const std::string eight(8, '\0');
  return {
      {"empty", "", "too short"},
      {"short_length", "\x05\0\0", "too short"},
      {"length_past_end", fgattn::testutil::le_bytes(1000, 8) + "{}", "exceeds"},
      {"length_huge", fgattn::testutil::le_bytes(~0ull, 8) + "{}", "exceeds"},
      {"text_file", "this is not a safetensors file at all", "exceeds"},
      {"bad_json", safetensors_bytes("{\"t\": [1, 2", ""), "not valid JSON"},
      {"json_trailing_garbage", safetensors_bytes("{} xyz", ""), "not valid JSON"},
      {"json_array", safetensors_bytes("[1, 2]", ""), "must be a JSON object"},
      {"json_deeply_nested", safetensors_bytes(std::string(100000, '[') + std::string(100000, ']'), ""), "must be a JSON object"},
      {"json_deep_unclosed", safetensors_bytes(std::string(100000, '['), ""), "not valid JSON"},
      {"entry_not_object", safetensors_bytes(R"({"t": 5})", ""), "entry must be a JSON object"},
      {"metadata_not_object", safetensors_bytes(R"({"__metadata__": 3})", ""), "__metadata__"},
      {"missing_dtype", safetensors_bytes(entry(R"("shape": [2], "data_offsets": [0, 8])"), eight), "missing field \"dtype\""},
      {"missing_shape", safetensors_bytes(entry(R"("dtype": "F32", "data_offsets": [0, 8])"), eight), "missing field \"shape\""},
      {"missing_offsets", safetensors_bytes(entry(R"("dtype": "F32", "shape": [2])"), eight), "missing field \"data_offsets\""},
      {"dtype_not_string", safetensors_bytes(entry(R"("dtype": 4, "shape": [2], "data_offsets": [0, 8])"), eight), "\"dtype\" must be a string"},
      {"dtype_unsupported", safetensors_bytes(entry(R"("dtype": "F64", "shape": [1], "data_offsets": [0, 8])"), eight), "unsupported dtype \"F64\""},
      {"shape_not_array", safetensors_bytes(entry(R"("dtype": "F32", "shape": 2, "data_offsets": [0, 8])"), eight), "\"shape\" must be an array"},
      {"shape_negative", safetensors_bytes(entry(R"("dtype": "F32", "shape": [-2], "data_offsets": [0, 8])"), eight), "non-negative integers"},
      {"shape_float", safetensors_bytes(entry(R"("dtype": "F32", "shape": [2.5], "data_offsets": [0, 8])"), eight), "non-negative integers"},
      {"shape_string", safetensors_bytes(entry(R"("dtype": "F32", "shape": ["2"], "data_offsets": [0, 8])"), eight), "non-negative integers"},
      {"shape_beyond_int64", safetensors_bytes(entry(R"("dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 8])"), eight), "too large"},
      {"offsets_one_value", safetensors_bytes(entry(R"("dtype": "F32", "shape": [2], "data_offsets": [8])"), eight), "must be [begin, end]"},
      {"offsets_not_array", safetensors_bytes(entry(R"("dtype": "F32", "shape": [2], "data_offsets": "0-8")"), eight), "must be [begin, end]"},
      {"offsets_negative", safetensors_bytes(entry(R"("dtype": "F32", "shape": [2], "data_offsets": [-8, 0])"), eight), "non-negative integers"},
      {"offsets_end_before_begin", safetensors_bytes(entry(R"("dtype": "F32", "shape": [2], "data_offsets": [8, 0])"), eight), "end before begin"},
      {"offsets_past_buffer", safetensors_bytes(entry(R"("dtype": "F32", "shape": [4], "data_offsets": [0, 16])"), eight), "past the 8-byte data buffer"},
      {"size_mismatch", safetensors_bytes(entry(R"("dtype": "F32", "shape": [3], "data_offsets": [0, 8])"), eight), "needs 12"},
      {"dtype_shape_mismatch", safetensors_bytes(entry(R"("dtype": "BF16", "shape": [2], "data_offsets": [0, 8])"), eight), "needs 4"},
      {"overlap", safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                                    R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}})", eight), "overlap"},
      {"truncated_buffer", safetensors_bytes(entry(ok_fields), std::string(3, '\0')), "past the 3-byte data buffer"},
      // Absurd declared sizes: rejected from the header alone, before any allocation.
      {"absurd_elements_offsets", safetensors_bytes(entry(R"("dtype": "F32", "shape": [1000000000000000], "data_offsets": [0, 4000000000000000])"), eight), "past the 8-byte data buffer"},
      {"absurd_elements_small_range", safetensors_bytes(entry(R"("dtype": "F32", "shape": [1000000000000000], "data_offsets": [0, 8])"), eight), "needs 4000000000000000"},
      {"numel_overflow", safetensors_bytes(entry(R"("dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8])"), eight), "overflows 64 bits"},
      {"bytes_overflow", safetensors_bytes(entry(R"("dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 8])"), eight), "overflows 64 bits"},
  };
}

}  // namespace

TEST(IoSafetensorsErrors, EveryMalformedFileNamesFileAndProblem) {
  TempDir dir;
  for (const Case& c : corpus()) {
    const std::string path = dir.file(std::string(c.name) + ".safetensors");
    fgattn::testutil::write_file(path, c.bytes);
    const std::string message = error_of([&] { read_safetensors(path); });
    EXPECT_THAT(message, HasSubstr(path)) << c.name;
    EXPECT_THAT(message, HasSubstr(c.expected)) << c.name;
  }
}

TEST(IoSafetensorsErrors, TensorProblemsNameTheTensor) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  fgattn::testutil::write_file(path, safetensors_bytes(R"({"qq": {"dtype": "I8", "shape": [1], "data_offsets": [0, 1]}})", "\1"));
  try {
    read_safetensors(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), path + ":qq");
    EXPECT_THAT(e.rule(), HasSubstr("I8"));
  }
}

TEST(IoSafetensorsErrors, MissingOrUnreadableFile) {
  TempDir dir;
  EXPECT_THAT(error_of([&] { read_safetensors(dir.file("absent.safetensors")); }), HasSubstr("no such file"));
  EXPECT_THAT(error_of([&] { read_safetensors(dir.file("")); }), HasSubstr("not a regular file"));
}

TEST(IoSafetensorsErrors, WriterRejectsInconsistentArrays) {
  TempDir dir;
  RawArray a;
  a.dtype = DType::f32;
  a.shape = {3};
  a.bytes.resize(8);
  EXPECT_THAT(error_of([&] { write_safetensors(dir.file("w.safetensors"), {{"a", a}}); }), HasSubstr("needs 12"));
  EXPECT_THAT(error_of([&] { write_safetensors(dir.file("no_dir/w.safetensors"), {}); }), HasSubstr("cannot open"));
}
