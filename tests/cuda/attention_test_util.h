#pragma once
// Helpers of the GPU attention tests: device copies, the low-precision reference (ref_lo: fp32 math with P
// rounded to the kernel dtype, as the kernel does) and the derived tolerance of docs/style.md.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "fgattn/attention.h"
#include "fgattn/plan.h"
#include "fgattn/tensor.h"

namespace fgattn::gputest {

// A device buffer holding a copy of (or space for) a host tensor, poisoned with NaN (0xFF bytes) when empty.
struct DeviceBuffer {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  explicit DeviceBuffer(std::size_t n) : bytes(n) {
    EXPECT_EQ(cudaMalloc(&ptr, std::max<std::size_t>(n, 16)), cudaSuccess);
    poison();
  }
  explicit DeviceBuffer(const HostTensor& t) : DeviceBuffer(t.bytes.size()) {
    EXPECT_EQ(cudaMemcpy(ptr, t.bytes.data(), t.bytes.size(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void poison() { EXPECT_EQ(cudaMemset(ptr, 0xFF, bytes), cudaSuccess); }  // NaN in bf16, f16 and f32
  TensorView view(const HostTensor& like) const {
    TensorView v = like.view();
    v.data = ptr;
    v.device = Device::cuda;
    return v;
  }
  template <typename T>
  std::vector<T> download(std::size_t count) const {
    std::vector<T> h(count);
    EXPECT_EQ(cudaMemcpy(h.data(), ptr, count * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }
};

struct LowRef {
  HostTensor out;  // f32, same layout as q
  HostLse lse;
};

// ref_lo: the same function in the kernel's precision: fp32 scores and softmax, P rounded to `dtype` before P V.
inline LowRef reference_lo(const HostTensor& q, const HostTensor& k, const HostTensor& v, const Plan& plan, DType dtype,
                           double scale) {
  const std::int64_t B = q.shape[0], Sq = q.shape[1], H = q.shape[2], D = q.shape[3];
  LowRef r{HostTensor::zeros(DType::f32, q.layout, B, Sq, H, D), HostLse::sized(B, H, Sq)};
  std::vector<float> s, o(static_cast<std::size_t>(D));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t i = 0; i < Sq; ++i) {
        const auto keys = plan.keys(plan.row_index(b, h, i / plan.block_m));
        if (keys.empty()) {
          r.lse.at(b, h, i) = -std::numeric_limits<float>::infinity();
          continue;
        }
        s.assign(keys.size(), 0.f);
        float m = -std::numeric_limits<float>::infinity();
        for (std::size_t j = 0; j < keys.size(); ++j) {
          float acc = 0.f;
          for (std::int64_t d = 0; d < D; ++d) acc += q.at(b, i, h, d) * k.at(b, keys[j], h, d);
          s[j] = acc * static_cast<float>(scale);
          m = std::max(m, s[j]);
        }
        float l = 0.f;
        std::fill(o.begin(), o.end(), 0.f);
        for (std::size_t j = 0; j < keys.size(); ++j) {
          const float p = std::exp(s[j] - m);
          l += p;
          const float pr = round_to(dtype, p);
          for (std::int64_t d = 0; d < D; ++d) o[static_cast<std::size_t>(d)] += pr * v.at(b, keys[j], h, d);
        }
        for (std::int64_t d = 0; d < D; ++d) r.out.set(b, i, h, d, round_to(dtype, o[static_cast<std::size_t>(d)] / l));
        r.lse.at(b, h, i) = m + std::log(l);
      }
  return r;
}

}  // namespace fgattn::gputest
