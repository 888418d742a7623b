// Malformed .npy corpus: each file must give an fgattn::Error naming the file and the problem, without
// allocating what the header merely claims.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/io_files.h"
#include "fgattn/io.h"

using namespace fgattn;
using fgattn::testutil::error_of;
using fgattn::testutil::npy_bytes;
using fgattn::testutil::TempDir;
using ::testing::HasSubstr;

namespace {

struct Case {
  const char* name;
  std::string bytes;
  const char* expected;
};

std::string dict(const std::string& descr, const std::string& fortran, const std::string& shape) {
  return "{'descr': " + descr + ", 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n";
}

std::vector<Case> corpus() {
  const std::string eight(8, '\0');
  std::string deep(100, '(');
  return {
      {"empty", "", "too short"},
      {"bad_magic", std::string("\x93NUMPX\x01\x00\x02\x00{}", 12), "bad magic"},
      {"version_4", npy_bytes(dict("'<f4'", "False", "(2,)"), eight, 4), "version 4.0"},
      {"header_past_end", std::string("\x93NUMPY\x01\x00", 8) + fgattn::testutil::le_bytes(500, 2) + "{}", "exceeds"},
      {"header_past_end_v2", std::string("\x93NUMPY\x02\x00", 8) + fgattn::testutil::le_bytes(0xffffffffu, 4) + "{}", "exceeds"},
      {"header_not_dict", npy_bytes("[1, 2]", eight), "not a dict"},
      {"header_garbage", npy_bytes("{'descr': <f4}", eight), "malformed .npy header"},
      {"header_unterminated", npy_bytes("{'descr': '<f4", eight), "unterminated string"},
      {"header_too_deep", npy_bytes("{'shape': " + deep, eight), "nested too deeply"},
      {"missing_descr", npy_bytes("{'fortran_order': False, 'shape': (2,)}", eight), "no 'descr' key"},
      {"missing_fortran", npy_bytes("{'descr': '<f4', 'shape': (2,)}", eight), "no 'fortran_order' key"},
      {"missing_shape", npy_bytes("{'descr': '<f4', 'fortran_order': False}", eight), "no 'shape' key"},
      {"descr_f8", npy_bytes(dict("'<f8'", "False", "(1,)"), eight), "'<f8'"},
      {"descr_int", npy_bytes(dict("'<i4'", "False", "(2,)"), eight), "'<i4'"},
      {"descr_big_endian", npy_bytes(dict("'>f4'", "False", "(2,)"), eight), "big-endian"},
      {"descr_structured", npy_bytes(dict("[('a', '<f4')]", "False", "(2,)"), eight), "structured"},
      {"fortran_true", npy_bytes(dict("'<f4'", "True", "(2,)"), eight), "fortran_order is True"},
      {"fortran_not_bool", npy_bytes(dict("'<f4'", "0", "(2,)"), eight), "True or False"},
      {"shape_not_tuple", npy_bytes(dict("'<f4'", "False", "2"), eight), "tuple of integers"},
      {"shape_float", npy_bytes(dict("'<f4'", "False", "(2.5,)"), eight), "expected an integer"},
      {"shape_string", npy_bytes(dict("'<f4'", "False", "('2',)"), eight), "tuple of integers"},
      {"shape_negative", npy_bytes(dict("'<f4'", "False", "(-2,)"), eight), "negative extent"},
      {"shape_huge_integer", npy_bytes(dict("'<f4'", "False", "(99999999999999999999,)"), eight), "integer too large"},
      {"data_truncated", npy_bytes(dict("'<f4'", "False", "(3,)"), eight), "needs 12 data bytes but the file holds 8"},
      // Absurd declared sizes: rejected from the header alone, before any allocation.
      {"absurd_elements", npy_bytes(dict("'<f4'", "False", "(1000000000, 1000000)"), eight), "needs 4000000000000000 data bytes"},
      {"numel_overflow", npy_bytes(dict("'<f2'", "False", "(4294967296, 4294967296)"), eight), "overflows 64 bits"},
  };
}

}  // namespace

TEST(IoNpyErrors, EveryMalformedFileNamesFileAndProblem) {
  TempDir dir;
  for (const Case& c : corpus()) {
    const std::string path = dir.file(std::string(c.name) + ".npy");
    fgattn::testutil::write_file(path, c.bytes);
    const std::string message = error_of([&] { read_npy(path); });
    EXPECT_THAT(message, HasSubstr(path)) << c.name;
    EXPECT_THAT(message, HasSubstr(c.expected)) << c.name;
  }
}

TEST(IoNpyErrors, MissingFile) {
  TempDir dir;
  EXPECT_THAT(error_of([&] { read_npy(dir.file("absent.npy")); }), HasSubstr("no such file"));
}
