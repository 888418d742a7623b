#pragma once
// One warp computes a 16-query x 64-key tile of QK^T with mma.sync m16n8k16 (bf16/f16 in, f32 accumulate).
// Q fragments live in registers for the whole key loop; K tiles are staged in padded shared memory by cp.async.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/predict/oracle_params.h"

namespace fgattn::cuda::qk {

constexpr int kTileKeys = 64;  // keys per shared-memory tile
constexpr int kRowsPerWarp = 16;
constexpr int kPad = 8;  // elements of padding per smem row: shifts each row by 4 banks, conflict-free fragments

template <int D>
struct Layout {
  static constexpr int kStride = D + kPad;                // smem row stride in elements
  static constexpr int kKSteps = D / 16;                  // mma k-steps
  static constexpr int kChunksPerRow = D / 8;             // 16-byte chunks per row
  static constexpr int kTileElems = kTileKeys * kStride;  // one K tile
};

template <typename T>
__device__ inline void mma_16816(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1);

template <>
__device__ inline void mma_16816<__nv_bfloat16>(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                                std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <>
__device__ inline void mma_16816<__half>(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ inline std::uint32_t load_pair(const void* p) { return *static_cast<const std::uint32_t*>(p); }

// Q fragments of one warp: rows row0 .. row0+15 of (b, h). Rows past seq_q read as zero.
template <typename T, int D>
__device__ inline void load_q_fragments(const QkParams& p, int b, int h, int row0, std::uint32_t (&frag)[D / 16][4]) {
  const int lane = threadIdx.x % 32;
  const T* q = static_cast<const T*>(p.q) + b * p.q_stride[0] + h * p.q_stride[2];
  const int r0 = row0 + lane / 4, r1 = r0 + 8, c = (lane % 4) * 2;
#pragma unroll
  for (int ks = 0; ks < D / 16; ++ks) {
    const int col = ks * 16 + c;
    frag[ks][0] = r0 < p.seq_q ? load_pair(q + r0 * p.q_stride[1] + col) : 0u;
    frag[ks][1] = r1 < p.seq_q ? load_pair(q + r1 * p.q_stride[1] + col) : 0u;
    frag[ks][2] = r0 < p.seq_q ? load_pair(q + r0 * p.q_stride[1] + col + 8) : 0u;
    frag[ks][3] = r1 < p.seq_q ? load_pair(q + r1 * p.q_stride[1] + col + 8) : 0u;
  }
}

// The whole CTA stages keys [key0, key0 + 64) of (b, h) into smem; keys past seq_kv are zero-filled.
template <typename T, int D>
__device__ inline void load_k_tile_async(const QkParams& p, int b, int h, int key0, T* smem) {
  using L = Layout<D>;
  const T* k = static_cast<const T*>(p.k) + b * p.k_stride[0] + h * p.k_stride[2];
  for (int chunk = threadIdx.x; chunk < kTileKeys * L::kChunksPerRow; chunk += blockDim.x) {
    const int key = chunk / L::kChunksPerRow, col = (chunk % L::kChunksPerRow) * 8;
    T* dst = smem + key * L::kStride + col;
    const bool valid = key0 + key < p.seq_kv;
    const T* src = valid ? k + static_cast<std::int64_t>(key0 + key) * p.k_stride[1] + col : k;
    const unsigned dst_addr = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    const int src_bytes = valid ? 16 : 0;  // src-size 0: the copy writes zeros
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst_addr), "l"(src), "r"(src_bytes));
  }
  asm volatile("cp.async.commit_group;\n" ::);
}

template <int N>
__device__ inline void wait_async_groups() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Streams key tiles [first_tile, first_tile + tiles) of (b, h) through two shared-memory stages (the next tile
// loads while this one is used) and calls visit(t, tile) for each. All threads of the CTA must call it.
template <typename T, int D, typename Visit>
__device__ inline void for_each_k_tile(const QkParams& p, int b, int h, int first_tile, int tiles, T* stages, Visit&& visit) {
  using L = Layout<D>;
  load_k_tile_async<T, D>(p, b, h, first_tile * kTileKeys, stages);
  for (int t = 0; t < tiles; ++t) {
    if (t + 1 < tiles) {
      load_k_tile_async<T, D>(p, b, h, (first_tile + t + 1) * kTileKeys, stages + ((t + 1) % 2) * L::kTileElems);
      wait_async_groups<1>();
    } else {
      wait_async_groups<0>();
    }
    __syncthreads();  // the staged tile is visible to every warp
    visit(t, stages + (t % 2) * L::kTileElems);
    __syncthreads();  // the next prefetch overwrites the stage just read
  }
}

// acc[nb][i]: rows (lane/4, lane/4 + 8), keys nb*8 + (lane%4)*2 + {0, 1}; raw logits (unscaled).
template <typename T, int D>
__device__ inline void qk_tile(const std::uint32_t (&qf)[D / 16][4], const T* ktile, float (&acc)[8][4]) {
  using L = Layout<D>;
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int nb = 0; nb < 8; ++nb) {
    acc[nb][0] = acc[nb][1] = acc[nb][2] = acc[nb][3] = 0.f;
    const T* krow = ktile + (nb * 8 + lane / 4) * L::kStride + (lane % 4) * 2;
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) mma_16816<T>(acc[nb], qf[ks], load_pair(krow + ks * 16), load_pair(krow + ks * 16 + 8));
  }
}

}  // namespace fgattn::cuda::qk
