// Plan files: "FGPLAN1\0", then int64 little-endian batch, heads, seq_q, seq_kv, block_m, nnz,
// then offsets (int64) and indices (int32). Sizes are checked against the file before anything is allocated.
// Optional sections follow (issue 20), each an 8-byte tag, an int64 byte count and that many bytes; a reader skips
// tags it does not know, so later sections do not break it. Files that end after the indices (older writers) load
// as before. "FGQUAL1\0" (32 bytes): the PlanQuality as float64 dropped_mass_mean, dropped_mass_max, then int64
// estimated (0 or 1) and queries.
#include <fmt/format.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "fgattn/error.h"
#include "fgattn/plan.h"

namespace fgattn {
namespace {

constexpr std::array<char, 8> kMagic = {'F', 'G', 'P', 'L', 'A', 'N', '1', '\0'};
constexpr std::size_t kHeaderFields = 6;
constexpr std::array<char, 8> kQualityTag = {'F', 'G', 'Q', 'U', 'A', 'L', '1', '\0'};
constexpr std::int64_t kQualityBytes = 32;

struct QualityRecord {
  double dropped_mass_mean, dropped_mass_max;
  std::int64_t estimated, queries;
};
static_assert(sizeof(QualityRecord) == kQualityBytes);

// Reads the sections after the indices: `bytes` of them are left in the file.
void read_sections(std::ifstream& in, long double bytes, const std::string& path, Plan& plan) {
  while (bytes > 0) {
    std::array<char, 8> tag{};
    std::int64_t size = 0;
    in.read(tag.data(), tag.size());
    in.read(reinterpret_cast<char*>(&size), sizeof size);
    if (!in || bytes < 16) throw Error(path, "truncated section header after the plan");
    bytes -= 16;
    if (size < 0 || static_cast<long double>(size) > bytes)
      throw Error(path, fmt::format("section of {} bytes, but {:.0f} bytes are left", size, static_cast<double>(bytes)));
    if (tag == kQualityTag) {
      if (size != kQualityBytes) throw Error(path, fmt::format("quality section of {} bytes, expected {}", size, kQualityBytes));
      QualityRecord r{};
      in.read(reinterpret_cast<char*>(&r), sizeof r);
      const bool fractions = r.dropped_mass_mean >= 0 && r.dropped_mass_mean <= 1 && r.dropped_mass_max >= 0 &&
                             r.dropped_mass_max <= 1;  // false for NaN too
      if (!in || !fractions || (r.estimated != 0 && r.estimated != 1) || r.queries < 0)
        throw Error(path, "invalid quality section");
      plan.quality = PlanQuality{r.dropped_mass_mean, r.dropped_mass_max, r.estimated == 1, r.queries};
    } else {
      in.seekg(size, std::ios::cur);  // a section this reader does not know
    }
    bytes -= static_cast<long double>(size);
  }
}

template <typename T>
void write_all(std::ofstream& out, const T* data, std::size_t count) {
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * sizeof(T)));
}

}  // namespace

void save_plan(const Plan& plan, const std::string& path) {
  validate(plan);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path, "cannot open the plan file for writing");
  const std::array<std::int64_t, kHeaderFields> header = {plan.batch, plan.heads, plan.seq_q,
                                                          plan.seq_kv, plan.block_m, plan.nnz()};
  out.write(kMagic.data(), kMagic.size());
  write_all(out, header.data(), header.size());
  write_all(out, plan.offsets.data(), plan.offsets.size());
  write_all(out, plan.indices.data(), plan.indices.size());
  if (plan.quality) {
    const PlanQuality& q = *plan.quality;
    const QualityRecord record{q.dropped_mass_mean, q.dropped_mass_max, q.estimated ? 1 : 0, q.queries};
    out.write(kQualityTag.data(), kQualityTag.size());
    write_all(out, &kQualityBytes, 1);
    write_all(out, &record, 1);
  }
  if (!out) throw Error(path, "writing the plan file failed");
}

Plan load_plan(const std::string& path) {
  std::error_code ec;
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(path, "cannot read the plan file: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open the plan file");
  std::array<char, 8> magic{};
  std::array<std::int64_t, kHeaderFields> h{};
  in.read(magic.data(), magic.size());
  in.read(reinterpret_cast<char*>(h.data()), sizeof h);
  if (!in) throw Error(path, "truncated plan file header");
  if (magic != kMagic) throw Error(path, "not an fgattn plan file (bad magic)");
  Plan p;
  p.batch = h[0];
  p.heads = h[1];
  p.seq_q = h[2];
  p.seq_kv = h[3];
  if (h[4] < 1 || h[4] > (1 << 20)) throw Error(path, fmt::format("block_m {} is out of range", h[4]));
  p.block_m = static_cast<int>(h[4]);
  if (p.batch < 1 || p.heads < 1 || p.seq_q < 1 || p.seq_kv < 1 || h[5] < 0)
    throw Error(path, "plan sizes must be positive");
  // Bound every count by the file's real size before allocating.
  const auto payload = static_cast<long double>(file_size) - static_cast<long double>(magic.size() + sizeof h);
  const long double rows = static_cast<long double>(p.batch) * p.heads * ((p.seq_q + p.block_m - 1) / p.block_m);
  const long double want = (rows + 1) * sizeof(std::int64_t) + static_cast<long double>(h[5]) * sizeof(std::int32_t);
  if (want > payload)
    throw Error(path, fmt::format("plan file holds {:.0f} payload bytes, its header declares {:.0f}",
                                  static_cast<double>(payload), static_cast<double>(want)));
  p.offsets.resize(static_cast<std::size_t>(rows) + 1);
  p.indices.resize(static_cast<std::size_t>(h[5]));
  in.read(reinterpret_cast<char*>(p.offsets.data()), static_cast<std::streamsize>(p.offsets.size() * sizeof(std::int64_t)));
  in.read(reinterpret_cast<char*>(p.indices.data()), static_cast<std::streamsize>(p.indices.size() * sizeof(std::int32_t)));
  if (!in) throw Error(path, "truncated plan file");
  read_sections(in, payload - want, path, p);
  try {
    validate(p);
  } catch (const Error& e) {
    throw Error(path, std::string("invalid plan: ") + e.what());
  }
  return p;
}

}  // namespace fgattn
