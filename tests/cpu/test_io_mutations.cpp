// Robustness: every truncation and many random byte flips of valid files either read or throw fgattn::Error
// (error_of fails the test on any other exception; ASan/UBSan runs catch crashes and overreads).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>

#include "common/io_files.h"
#include "common/random_inputs.h"
#include "fgattn/io.h"

using namespace fgattn;
using fgattn::testutil::error_of;
using fgattn::testutil::TempDir;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void mutate_and_read(const std::string& valid, const std::string& path, const std::function<void()>& read) {
  for (std::size_t n = 0; n < valid.size(); ++n) {  // every truncation
    fgattn::testutil::write_file(path, valid.substr(0, n));
    EXPECT_NE(error_of(read), "no error") << "truncated to " << n << " bytes";
  }
  std::mt19937_64 rng(1234);
  const std::size_t header_end = std::min<std::size_t>(valid.size(), 200);  // flips in the header matter most
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = valid;
    for (int f = 0; f < 3; ++f) {
      const auto at = std::uniform_int_distribution<std::size_t>(0, header_end - 1)(rng);
      bytes[at] = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    }
    fgattn::testutil::write_file(path, bytes);
    error_of(read);
  }
}

}  // namespace

TEST(IoMutations, SafetensorsNeverCrashes) {
  TempDir dir;
  std::mt19937_64 rng(3);
  const std::string path = dir.file("m.safetensors");
  write_safetensors(path, {{"q", to_raw_array(testutil::random_tensor(rng, DType::bf16, Layout::BSHD, 1, 3, 2, 4))},
                           {"k", to_raw_array(testutil::random_tensor(rng, DType::f32, Layout::BSHD, 1, 2, 2, 4))}});
  const std::string valid = slurp(path);
  mutate_and_read(valid, path, [&] { read_safetensors(path); });
}

TEST(IoMutations, NpyNeverCrashes) {
  TempDir dir;
  std::mt19937_64 rng(4);
  const std::string path = dir.file("m.npy");
  write_npy(path, to_raw_array(testutil::random_tensor(rng, DType::f16, Layout::BHSD, 1, 3, 2, 4)));
  const std::string valid = slurp(path);
  mutate_and_read(valid, path, [&] { read_npy(path); });
}
