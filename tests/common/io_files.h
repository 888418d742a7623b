#pragma once
#include "common/error_of.h"
// Test helpers for the file readers: a per-test temp directory and hand-built (possibly malformed) files.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "fgattn/error.h"

namespace fgattn::testutil {

// A fresh directory named after the running test, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("fgattn_io_") + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string le_bytes(std::uint64_t value, int count) {
  std::string s;
  for (int i = 0; i < count; ++i) s += static_cast<char>((value >> (8 * i)) & 0xff);
  return s;
}

// A .safetensors file from a raw JSON header and a raw data buffer.
inline std::string safetensors_bytes(const std::string& header, const std::string& buffer) {
  return le_bytes(header.size(), 8) + header + buffer;
}

// A .npy file from a raw header dict text (version major.0) and raw data.
inline std::string npy_bytes(const std::string& header, const std::string& data, int major = 1) {
  std::string s = "\x93NUMPY";
  s += static_cast<char>(major);
  s += '\0';
  s += le_bytes(header.size(), major == 1 ? 2 : 4);
  return s + header + data;
}


}  // namespace fgattn::testutil
