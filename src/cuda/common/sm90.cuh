#pragma once
// The Hopper (sm_90a) pieces of the attention kernel, from the field's libraries rather than raw assembly where
// they have them: warpgroup MMAs are CuTe's GMMA atoms (cute/arch/mma_sm90_gmma.hpp), descriptors CuTe's
// GmmaDescriptor, register reconfiguration CUTLASS's setmaxnreg wrappers, mbarriers and proxy fences CCCL's
// cuda::ptx. What is ours: the 128-byte-swizzled "panel" layout of every shared-memory tile and the descriptors
// that walk it.
//
// Panel layout of a (rows, D) tile of 16-bit elements: D is cut into panels of 64 columns (128 bytes); panel p
// holds rows 0..rows-1 at 128 bytes each, and 16-byte chunk c of row r sits at chunk c ^ (r % 8). This is
// GMMA's SW128 canonical layout for both K-major operands (Q, K: rows = M or N, columns = K) and the MN-major
// V operand of P V (rows = K = keys, columns = N = D). Tiles start on 1024-byte boundaries (the swizzle is
// applied on address bits [4,10)).
#include <cuda.h>  // CUtensorMap
#include <cuda/ptx>
#include <cute/arch/mma_sm90_gmma.hpp>
#include <cute/arch/mma_sm90_desc.hpp>
#include <cutlass/arch/reg_reconfig.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace fgattn::cuda::sm90 {

inline constexpr int kPanelCols = 64;     // 16-bit elements per 128-byte swizzle row
inline constexpr int kPanelRowBytes = 128;

// Byte offset of (row, 16-byte chunk) in a panel-layout tile with `rows` rows.
__host__ __device__ constexpr int panel_offset(int row, int chunk, int rows) {
  return (chunk / 8) * rows * kPanelRowBytes + row * kPanelRowBytes + (((chunk % 8) ^ (row % 8)) << 4);
}

// GMMA descriptor for a SW128 tile at shared address `addr` (bytes); lbo/sbo in bytes (see CuTe's
// make_gmma_desc: K-major ignores lbo, sbo = 8 rows * 128 B; MN-major lbo = bytes between 64-column panels).
__device__ __forceinline__ std::uint64_t sw128_desc(std::uint32_t addr, std::uint32_t lbo, std::uint32_t sbo) {
  cute::GmmaDescriptor desc;
  desc.bitfield.start_address_ = static_cast<std::uint16_t>(addr >> 4);
  desc.bitfield.leading_byte_offset_ = static_cast<std::uint16_t>(lbo >> 4);
  desc.bitfield.stride_byte_offset_ = static_cast<std::uint16_t>(sbo >> 4);
  desc.bitfield.base_offset_ = 0;
  desc.bitfield.layout_type_ = static_cast<std::uint8_t>(cute::SM90::GMMA::LayoutType::B128);
  return desc.desc_;
}

// The GMMA atoms for element T and N (64 or 128): S = Q K^T (both operands from shared memory, K-major) and
// O += P V (P from registers, V from shared memory, MN-major).
template <typename T, int N>
struct Gmma;
#define FGATTN_GMMA(TYPE, NAME, N)                                                                           \
  template <>                                                                                              \
  struct Gmma<TYPE, N> {                                                                                   \
    using SS = cute::SM90::GMMA::MMA_64x##N##x16_F32##NAME##NAME##_SS<cute::SM90::GMMA::Major::K,          \
                                                                      cute::SM90::GMMA::Major::K>;         \
    using RS = cute::SM90::GMMA::MMA_64x##N##x16_F32##NAME##NAME##_RS<cute::SM90::GMMA::Major::K,          \
                                                                      cute::SM90::GMMA::Major::MN>;        \
  };
FGATTN_GMMA(__nv_bfloat16, BF16, 64)
FGATTN_GMMA(__nv_bfloat16, BF16, 128)
FGATTN_GMMA(__half, F16, 64)
FGATTN_GMMA(__half, F16, 128)
#undef FGATTN_GMMA

namespace detail {
template <class Op, int Count, std::size_t... I>
__device__ __forceinline__ void ss(std::uint64_t a, std::uint64_t b, float* d, bool accumulate,
                                   std::index_sequence<I...>) {
  Op::fma(a, b, d[I]..., accumulate ? cute::SM90::GMMA::ScaleOut::One : cute::SM90::GMMA::ScaleOut::Zero);
}
template <class Op, int Count, std::size_t... I>
__device__ __forceinline__ void rs(const std::uint32_t (&a)[4], std::uint64_t b, float* d, std::index_sequence<I...>) {
  Op::fma(a[0], a[1], a[2], a[3], b, d[I]..., cute::SM90::GMMA::ScaleOut::One);
}
}  // namespace detail

// D (64 x N fp32, the m64nNk16 accumulator fragment: N / 2 floats per thread) (+)= A(smem) * B(smem).
template <typename T, int N>
__device__ __forceinline__ void gmma_ss(std::uint64_t a, std::uint64_t b, float (&d)[N / 8][4], bool accumulate) {
  detail::ss<typename Gmma<T, N>::SS, N / 2>(a, b, &d[0][0], accumulate, std::make_index_sequence<N / 2>{});
}
// D += A(registers: the m64k16 A fragment, 4 x 2 packed elements) * B(smem).
template <typename T, int N>
__device__ __forceinline__ void gmma_rs(const std::uint32_t (&a)[4], std::uint64_t b, float (&d)[N / 8][4]) {
  detail::rs<typename Gmma<T, N>::RS, N / 2>(a, b, &d[0][0], std::make_index_sequence<N / 2>{});
}

// Keeps the compiler from moving accumulator reads/writes across the asynchronous MMA.
template <int Tiles>
__device__ __forceinline__ void fence_accumulators(float (&d)[Tiles][4]) {
#pragma unroll
  for (int j = 0; j < Tiles; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) cute::warpgroup_fence_operand(d[j][e]);
}

template <int Rows>
__device__ __forceinline__ void fence_registers(std::uint32_t (&a)[Rows][4]) {
#pragma unroll
  for (int j = 0; j < Rows; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) cute::warpgroup_fence_operand(a[j][e]);
}

__device__ __forceinline__ void gmma_fence() { cute::warpgroup_arrive(); }
__device__ __forceinline__ void gmma_commit() { cute::warpgroup_commit_batch(); }
template <int Pending>
__device__ __forceinline__ void gmma_wait() {
  cute::warpgroup_wait<Pending>();
}

// mbarrier helpers (CCCL cuda::ptx).
__device__ __forceinline__ void mbar_init(std::uint64_t* bar, std::uint32_t count) {
  ::cuda::ptx::mbarrier_init(bar, count);
}
// With a suspend-time hint the waiting warp sleeps until the phase completes (or the hint's 10 ms pass) instead of
// spinning: without it, ncu counted ~46 retries per tile per consumer warp on gathered tiles, issue slots taken from
// the other warps' softmax and gather on the same scheduler.
__device__ __forceinline__ void mbar_wait(std::uint64_t* bar, std::uint32_t parity) {
  constexpr std::uint32_t kSuspendHintNs = 10'000'000;
  while (!::cuda::ptx::mbarrier_try_wait_parity(bar, parity, kSuspendHintNs)) {
  }
}
__device__ __forceinline__ void mbar_arrive(std::uint64_t* bar) { (void)::cuda::ptx::mbarrier_arrive(bar); }
// Arrives on `bar` once every cp.async this thread issued so far has landed (counts as one expected arrival).
__device__ __forceinline__ void mbar_arrive_on_cp_async(std::uint64_t* bar) {
  ::cuda::ptx::cp_async_mbarrier_arrive_noinc(bar);
}
// Expects `bytes` more of asynchronous copies on `bar` and arrives (one expected arrival); the phase completes once
// the arrivals are in and the bytes have landed.
__device__ __forceinline__ void mbar_arrive_expect_tx(std::uint64_t* bar, std::uint32_t bytes) {
  (void)::cuda::ptx::mbarrier_arrive_expect_tx(::cuda::ptx::sem_release, ::cuda::ptx::scope_cta,
                                               ::cuda::ptx::space_shared, bar, bytes);
}
// TMA: the box of `map` at coordinates (c0 innermost .. c3) into shared address `dst`, its bytes completing on
// `bar`. The 128-byte swizzle follows dst's address bits, so dst may be any 128-byte-aligned row of a panel.
__device__ __forceinline__ void tma_load_4d(std::uint32_t dst, const CUtensorMap* map, int c0, int c1, int c2, int c3,
                                            std::uint64_t* bar) {
  const std::int32_t coords[4] = {c0, c1, c2, c3};
  ::cuda::ptx::cp_async_bulk_tensor(::cuda::ptx::space_cluster, ::cuda::ptx::space_global,
                                    __cvta_shared_to_generic(dst), map, coords, bar);
}
// After mbarrier_init: the barriers visible to the async proxy (TMA's complete_tx) before any copy uses them.
__device__ __forceinline__ void fence_barrier_init() {
  ::cuda::ptx::fence_mbarrier_init(::cuda::ptx::sem_release, ::cuda::ptx::scope_cluster);
  ::cuda::ptx::fence_proxy_async(::cuda::ptx::space_shared);
}
// Generic-proxy writes (cp.async, st.shared) made visible to the async proxy (wgmma operand reads).
__device__ __forceinline__ void fence_generic_to_async() { ::cuda::ptx::fence_proxy_async(::cuda::ptx::space_shared); }

// Named barriers (id 0 is __syncthreads).
__device__ __forceinline__ void named_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

}  // namespace fgattn::cuda::sm90
