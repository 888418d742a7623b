// Pass 3 of the GPU Top-CDF: one CTA (4 warps) per plan row (b, h, query block); each warp takes one of the
// block's query pools at a time and holds its row of pooled logits in registers (key pool j = 32 t + lane in
// v[t]: coalesced loads, and word t of the row's pool bitmask is one ballot).
// The cut without a sort. The CPU keeps pools in descending probability (ties: lower index first) while the mass
// before them is below tau * sum, i.e. pool j is kept iff F(p_j) < target, with F(x) = mass of the pools ranked
// before x. Bisection on the probability's bits (p >= 0, so bits order like values) keeps lo < x* <= hi with
// F(lo) >= target > F(hi): pools above hi are kept, pools at or below lo dropped. It stops once at most 32 pools
// lie in (lo, hi]; those are resolved exactly — one per lane, from the warp's shared slots, ranked by value then
// index. If more than 32 pools share one probability (hi = lo + 1), the lowest-index ones are kept as the CPU would.
// Cost per query pool at Wan 480p (2048 key pools, 64 per lane): ~10 passes over 64 registers (max, exp, sum,
// 7.2 bisection steps on the video-like logits with the first pivot at (1 - tau) * sum / pools, the keep / mark
// pass); measured 122 us for the 24,576 query pools on an H200 (96 registers, 5 CTAs per SM, 0.75 issued per
// scheduler cycle; docs/performance.md, Predictors).
#include <cmath>

#include "cuda/predict/topcdf_params.h"

namespace fgattn::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxWords = kMaxKeyPools / 32;
constexpr unsigned kFull = 0xffffffffu;

__device__ inline float warp_sum(float x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(kFull, x, offset);
  return x;
}
__device__ inline float warp_max(float x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) x = fmaxf(x, __shfl_xor_sync(kFull, x, offset));
  return x;
}

// A warp's row of N x 32 probabilities (key pool 32 t + lane at [t]): in registers up to 64 per lane, beyond that
// (more than 2,048 key pools) in shared memory, laid out [t][lane] so every access is conflict-free.
template <int N>
struct RegisterRow {
  float v[N];
  __device__ float& operator[](int t) { return v[t]; }
  __device__ float operator[](int t) const { return v[t]; }
};
template <int N>
struct SharedRow {
  float* base;  // this warp's N x 32 floats
  int lane;
  __device__ float& operator[](int t) { return base[t * 32 + lane]; }
  __device__ float operator[](int t) const { return base[t * 32 + lane]; }
};
constexpr int kMaxRegisterValues = 64;

// Mass and count of the values whose bits exceed x, over the warp. One fixed summation order, so F(0) is the sum.
// Eight independent chains, and one compare feeding two predicated adds: written as C++ (`n += above`), nvcc made
// the count one serial select chain through all N values and re-derived each value's min(., 1) in every pass.
template <int N, typename Row>
__device__ inline void mass_above(const Row& v, unsigned x, float& mass, int& count) {
  constexpr int kChains = 8;
  float s[kChains];
  int n[kChains];
#pragma unroll
  for (int c = 0; c < kChains; ++c) s[c] = 0.f, n[c] = 0;
  static_assert(N % kChains == 0);
  constexpr int kUnroll = N <= kMaxRegisterValues ? N / kChains : 1;  // shared rows: a loop keeps registers low
#pragma unroll kUnroll
  for (int t0 = 0; t0 < N; t0 += kChains)
#pragma unroll
  for (int c = 0; c < kChains; ++c) {  // chain c (a constant index: registers even where the t loop is not unrolled)
    const float value = v[t0 + c];
    asm("{\n\t.reg .pred above;\n\t"
        "setp.gt.u32 above, %2, %3;\n\t"
        "@above add.ftz.f32 %0, %0, %4;\n\t"
        "@above add.s32 %1, %1, 1;\n\t}"
        : "+f"(s[c]), "+r"(n[c])
        : "r"(__float_as_uint(value)), "r"(x), "f"(value));
  }
#pragma unroll
  for (int width = kChains / 2; width > 0; width /= 2)
#pragma unroll
    for (int c = 0; c < width; ++c) s[c] += s[c + width], n[c] += n[c + width];
  mass = warp_sum(s[0]);
  count = __reduce_add_sync(kFull, n[0]);
}

// Word t of a row's keep bitmask is one ballot (key pool 32 t + lane in v[t]). Lane t % 32 holds word t until the
// row is done, so each lane ORs at most N / 32 words into the block's shared mask: per-t atomics behind lane tests
// were a fifth of the kernel's time.
template <int N>
struct HeldWords {
  std::uint32_t word[(N + 31) / 32] = {};
  __device__ void hold(int t, std::uint32_t ballot, int lane) {
    if (lane == t % 32) word[t / 32] = ballot;
  }
  __device__ void or_into(std::uint32_t* mask, int lane) const {
#pragma unroll
    for (int k = 0; k < (N + 31) / 32; ++k)
      if (word[k] != 0u) atomicOr(mask + 32 * k + lane, word[k]);
  }
};

// A key pool's probability up to the row's normaliser: logits are base 2, and the largest is exactly 1.
__device__ __forceinline__ float probability(float logit, float row_max) { return fminf(exp2f(logit - row_max), 1.0f); }

// Keeps, in `mask` (shared), the key pools of one query pool's Top-CDF cut.
template <int N, typename Row>
__device__ void cut_one_pool(Row& v, const float* logits, int k_pools, float tau, std::uint32_t* mask, float* cand_value,
                             int* cand_key, int lane) {
  float m = -INFINITY;
#pragma unroll
  for (int t = 0; t < N; ++t) {
    const int j = t * 32 + lane;
    v[t] = j < k_pools ? logits[j] : -INFINITY;
    m = fmaxf(m, v[t]);
  }
  m = warp_max(m);
#pragma unroll
  for (int t = 0; t < N; ++t) {
    float p = probability(v[t], m);
    // One register per value: left to itself, nvcc kept exp2's result and its bits apart and re-derived the min in
    // every pass (two registers and an extra FMNMX per value).
    asm("" : "+f"(p));
    v[t] = p;
  }

  float sum = 0.f, f_hi = 0.f, f = 0.f;
  int c_lo = 0, c_hi = 0, c = 0;
  mass_above<N>(v, 0u, sum, c_lo);
  const float target = tau * sum;
  if (!(target > 0.f)) return;  // tau = 0 keeps no pool (as the CPU)
  unsigned lo = 0u, hi = __float_as_uint(1.0f) + 1u;
  // First pivot: pools at or below (1 - tau) * sum / k_pools hold at most (1 - tau) of the mass, so F there
  // reaches the target (up to rounding — the evaluated F decides, so the invariant holds regardless).
  unsigned pivot = __float_as_uint(0.5f * (1.f - tau) * sum / static_cast<float>(k_pools));
  while (c_lo - c_hi > 32 && hi - lo > 1u) {
    const unsigned mid = pivot > lo && pivot < hi ? pivot : lo + (hi - lo) / 2u;
    pivot = 0u;
    mass_above<N>(v, mid, f, c);
    if (f < target) hi = mid, f_hi = f, c_hi = c;
    else lo = mid, c_lo = c;
  }
  if (c_lo - c_hi > 32) {
    // More than 32 pools share the probability x = hi (hi = lo + 1). As the CPU, take them in index order while
    // the mass before them is below target: the first ceil((target - F(hi)) / x) of them.
    const float x = __uint_as_float(hi);
    const int keep_ties = min(c_lo - c_hi, static_cast<int>(ceilf((target - f_hi) / x)));
    const unsigned tie_lanes_below = (1u << lane) - 1u;
    int tied_before = 0;
    HeldWords<N> keep;
#pragma unroll
    for (int t = 0; t < N; ++t) {
      const unsigned b = __float_as_uint(v[t]);
      const unsigned tied = __ballot_sync(kFull, b == hi);
      const bool keep_tied = b == hi && tied_before + __popc(tied & tie_lanes_below) < keep_ties;
      tied_before += __popc(tied);
      keep.hold(t, __ballot_sync(kFull, b > hi || keep_tied), lane);
    }
    keep.or_into(mask, lane);
    return;
  }
  // One pass over the values: the pools above hi are kept, and each lane marks its candidates in (lo, hi]. (A
  // shuffle hand-off of the candidates, and per-t stores to shared slots -- whose address nvcc re-derived at every
  // store at the register cap -- each cost a fifth to a third of the kernel.)
  constexpr int kWords = (N + 31) / 32;
  HeldWords<N> keep;
  std::uint32_t marked[kWords] = {};
#pragma unroll
  for (int t = 0; t < N; ++t) {
    const unsigned b = __float_as_uint(v[t]);
    keep.hold(t, __ballot_sync(kFull, b > hi), lane);
    if (b - lo - 1u < hi - lo) marked[t / 32] |= 1u << (t % 32);  // b in (lo, hi]
  }
  keep.or_into(mask, lane);
  int mine = 0;
#pragma unroll
  for (int k = 0; k < kWords; ++k) mine += __popc(marked[k]);
  const int candidates = c_lo - c_hi;  // = the lanes' marks summed
  if (candidates == 0) return;

  // The <= 32 candidates to this warp's shared slots, lane by lane. Each value is derived again from its logit
  // (the same instructions, so the same bits): the registers of the row are free by now.
  int slot = mine;  // exclusive scan of the lanes' counts
#pragma unroll
  for (int offset = 1; offset < 32; offset <<= 1) {
    const int up = __shfl_up_sync(kFull, slot, offset);
    if (lane >= offset) slot += up;
  }
  slot -= mine;
#pragma unroll
  for (int k = 0; k < kWords; ++k)
    for (std::uint32_t bits = marked[k]; bits != 0u; bits &= bits - 1u, ++slot) {
      const int key = (32 * k + __ffs(bits) - 1) * 32 + lane;
      cand_value[slot] = probability(logits[key], m);
      cand_key[slot] = key;
    }
  __syncwarp();

  // Lane i ranks candidate i against all (value, then lower key first) and keeps it while the mass before it is
  // below the target.
  if (lane < candidates) {
    const float my_value = cand_value[lane];
    const int my_key = cand_key[lane];
    float before = f_hi;
    for (int i = 0; i < candidates; ++i) {
      const float other = cand_value[i];
      const bool ahead = other > my_value || (other == my_value && cand_key[i] < my_key);
      before += ahead ? other : 0.f;
    }
    if (before < target) atomicOr(mask + my_key / 32, 1u << (my_key % 32));
  }
  __syncwarp();  // the slots are refilled by this warp's next query pool
}

template <int N>
__global__ void __launch_bounds__(kWarps * 32, 5) topcdf_cut_kernel(TopCdfCutParams p) {
  extern __shared__ float shared_rows[];  // kWarps x N x 32 when N > kMaxRegisterValues
  __shared__ std::uint32_t mask[kMaxWords];
  __shared__ float cand_value[kWarps][32];  // each warp's candidate pools at its cut (value, key pool)
  __shared__ int cand_key[kWarps][32];
  __shared__ int keep_all;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int query_blocks = (p.seq_q + p.block_m - 1) / p.block_m, per_block = p.block_m / p.pool;
  const int local_bh = static_cast<int>(blockIdx.x) / query_blocks, qb = static_cast<int>(blockIdx.x) % query_blocks;
  const int bh = p.bh_begin + local_bh;
  const std::int64_t row = static_cast<std::int64_t>(bh) * query_blocks + qb;
  const int first_pool = qb * per_block, pools = min(per_block, p.q_pools - first_pool);

  // Key pools that are not self-similar are always kept; one coalesced byte per lane and a ballot per mask word
  // (a thread per word reading 32 bytes one by one cost tens of microseconds over the grid), the loads of eight
  // words in flight at once (one at a time, they were 9 % of the kernel's stall samples).
  const std::uint8_t* k_similar = p.k_similar + static_cast<std::int64_t>(bh) * p.k_pools;
  constexpr int kWordsInFlight = 8;
  for (int w0 = warp; w0 < p.pool_words; w0 += kWarps * kWordsInFlight) {
    bool keep[kWordsInFlight];
#pragma unroll
    for (int u = 0; u < kWordsInFlight; ++u) {
      const int j = (w0 + u * kWarps) * 32 + lane;
      keep[u] = j < p.k_pools && !k_similar[j];
    }
#pragma unroll
    for (int u = 0; u < kWordsInFlight; ++u) {
      const int w = w0 + u * kWarps;
      const std::uint32_t word = __ballot_sync(kFull, keep[u]);
      if (lane == 0 && w < p.pool_words) mask[w] = word;
    }
  }
  if (warp == 0) {  // a query block with a pool that is not self-similar keeps every key
    const bool not_similar = lane < pools && !p.q_similar[static_cast<std::int64_t>(bh) * p.q_pools + first_pool + lane];
    const bool all = __any_sync(kFull, not_similar) || p.tau >= 1.f;
    if (lane == 0) keep_all = all;
  }
  __syncthreads();

  if (!keep_all) {
    for (int i = warp; i < pools; i += kWarps) {
      const float* logits = p.logits + (static_cast<std::int64_t>(local_bh) * p.q_pools + first_pool + i) * p.logit_stride;
      if constexpr (N <= kMaxRegisterValues) {
        RegisterRow<N> row_values;
        cut_one_pool<N>(row_values, logits, p.k_pools, p.tau, mask, cand_value[warp], cand_key[warp], lane);
      } else {
        SharedRow<N> row_values{shared_rows + warp * N * 32, lane};
        cut_one_pool<N>(row_values, logits, p.k_pools, p.tau, mask, cand_value[warp], cand_key[warp], lane);
        __syncwarp();
      }
    }
  }
  __syncthreads();

  if (warp == 0) {
    int kept_pools = 0;
    bool last_kept = false;
    for (int w = lane; w < p.pool_words; w += 32) {
      const int valid = min(32, p.k_pools - w * 32);
      const std::uint32_t valid_bits = valid == 32 ? kFull : (1u << valid) - 1u;
      const std::uint32_t word = keep_all ? valid_bits : mask[w] & valid_bits;
      p.pool_bits[row * p.pool_words + w] = word;
      kept_pools += __popc(word);
      if (w == p.pool_words - 1) last_kept = (word >> (valid - 1)) & 1u;
    }
    kept_pools = __reduce_add_sync(kFull, kept_pools);
    last_kept = __any_sync(kFull, last_kept);
    if (lane == 0) {
      // The last key pool may be short: it holds seq_kv - (k_pools - 1) * pool keys.
      const int count = kept_pools * p.pool - (last_kept ? p.k_pools * p.pool - p.seq_kv : 0);
      p.offsets[row + 1] = count;
      if (row == 0) p.offsets[0] = 0;
    }
  }
}

}  // namespace

cudaError_t launch_topcdf_cut(const TopCdfCutParams& p, cudaStream_t stream) {
  if (p.k_pools < 1 || p.k_pools > kMaxKeyPools || p.pool_words != (p.k_pools + 31) / 32 || p.block_m % p.pool != 0)
    return cudaErrorInvalidValue;
  const int query_blocks = (p.seq_q + p.block_m - 1) / p.block_m;
  const auto blocks = static_cast<unsigned>(p.bh_count) * static_cast<unsigned>(query_blocks);
  if (p.k_pools <= 32 * 16) {
    topcdf_cut_kernel<16><<<blocks, kWarps * 32, 0, stream>>>(p);
  } else if (p.k_pools <= 32 * kMaxRegisterValues) {
    topcdf_cut_kernel<kMaxRegisterValues><<<blocks, kWarps * 32, 0, stream>>>(p);
  } else {
    constexpr int kN = kMaxKeyPools / 32;
    constexpr int bytes = kWarps * kN * 32 * sizeof(float);
    if (cudaError_t e = cudaFuncSetAttribute(topcdf_cut_kernel<kN>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
        e != cudaSuccess)
      return e;
    topcdf_cut_kernel<kN><<<blocks, kWarps * 32, bytes, stream>>>(p);
  }
  return cudaGetLastError();
}

}  // namespace fgattn::cuda
