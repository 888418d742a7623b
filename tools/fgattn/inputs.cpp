// Loading a user's captured tensors (inputs.h).
#include "inputs.h"

#include <fmt/format.h>

#include "fgattn/error.h"
#include "fgattn/io.h"

namespace fgattn::cli {
namespace {

// Keeps only the first `heads` heads (a packed copy).
HostTensor first_heads(const HostTensor& t, std::int64_t heads) {
  HostTensor r = HostTensor::zeros(t.dtype, t.layout, t.shape[0], t.shape[1], heads, t.shape[3]);
  for (std::int64_t b = 0; b < t.shape[0]; ++b)
    for (std::int64_t s = 0; s < t.shape[1]; ++s)
      for (std::int64_t h = 0; h < heads; ++h)
        for (std::int64_t d = 0; d < t.shape[3]; ++d) r.set(b, s, h, d, t.at(b, s, h, d));
  return r;
}

}  // namespace

Qkv load_inputs(const std::vector<std::string>& files, const std::string& layout, std::int64_t heads) {
  Qkv qkv = load_qkv(files, layout == "bshd" ? Layout::BSHD : Layout::BHSD);
  if (heads > 0) {
    if (heads > qkv.q.shape[2])
      throw Error("--heads", fmt::format("{} exceeds the {} heads in the file", heads, qkv.q.shape[2]));
    qkv = {first_heads(qkv.q, heads), first_heads(qkv.k, heads), first_heads(qkv.v, heads)};
  }
  return qkv;
}

}  // namespace fgattn::cli
