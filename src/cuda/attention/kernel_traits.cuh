#pragma once
// Traits of the warp-specialised sm_90a kernel: tile shapes, pipeline depth, shared-memory layout and register
// split, as compile-time constants that the host (launch.cuh) and the device code both read.
// A CTA is one producer warpgroup (gathers K/V rows with cp.async into a ring of stages) and `Consumers`
// warpgroups of 64 query rows each (wgmma). One plan row (block_m = 64 * Consumers queries) is one work item;
// its consumers share every gathered tile, so a 128-query row costs half the K/V bytes per FLOP of a 64-query one.
// Shared memory: Q (per consumer, 64 x D) | K stages | V stages | barriers, all tiles in sm90.cuh's panel layout.
#include <cstdint>

namespace fgattn::cuda {

// What a kernel instantiation does: the real thing, or one half of it for diagnostics (host/launch_diagnostic.cu):
// no_gather = the producer signals tiles without copying (the consumers' ceiling), no_math = the consumers only
// wait for and free tiles (the gather's ceiling); or scores_only, S = Q K^T without V (consumer_scores.cuh: the GPU
// oracle's row LSE and bits).
enum class KernelMode { normal, no_gather, no_math, scores_only };

template <int HeadDim, int BlockM, int BlockN = 0>  // BlockN = 0: the default tile (below)
struct KernelTraits {
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockM = BlockM;
  static constexpr int kConsumers = BlockM / 64;
  static constexpr int kThreads = 128 * (kConsumers + 1);
  // Keys per K/V tile: 128 when two consumers share it (the S accumulator is 64 floats per thread); 64 for a
  // lone consumer so two CTAs fit an SM and their consumers overlap each other's softmax.
  static constexpr int kBlockN = BlockN != 0 ? BlockN : kConsumers == 2 ? 128 : 64;
  static constexpr int kElemBytes = 2;
  static constexpr int kChunks = HeadDim / 8;  // 16-byte chunks per row
  static constexpr int kQBytes = 64 * HeadDim * kElemBytes;         // one consumer's Q tile
  static constexpr int kKvTileBytes = kBlockN * HeadDim * kElemBytes;  // one K (or V) stage
  // As many stages as fit: 227 KB per CTA with two consumers, half of the SM with one (two CTAs per SM).
  static constexpr int kSmemBudget = kConsumers == 2 ? 227 * 1024 : 113 * 1024;
  static constexpr int kStages = [] {
    int s = (kSmemBudget - 3072 - kConsumers * kQBytes) / (2 * kKvTileBytes);
    const int most = kBlockN == 64 && kConsumers == 2 ? 8 : 4;
    return s > most ? most : s;
  }();
  static constexpr int kCtasPerSm = kConsumers == 2 ? 1 : 2;
  // Register split (setmaxnreg): the producer needs few; consumers hold S (kBlockN/2), P and O (D/2) floats.
  static constexpr int kLaunchRegs = 65536 / (kThreads * kCtasPerSm) / 8 * 8;
  static constexpr int kProducerRegs = 72;
  static constexpr int kConsumerRegs = (kLaunchRegs * (kConsumers + 1) - kProducerRegs) / kConsumers / 8 * 8;
  // Byte offsets from the 1024-aligned base.
  static constexpr int kQOffset = 0;
  static constexpr int kKOffset = kQOffset + kConsumers * kQBytes;
  static constexpr int kVOffset = kKOffset + kStages * kKvTileBytes;
  static constexpr int kBarrierOffset = kVOffset + kStages * kKvTileBytes;
  static constexpr int kBarriers = 4 * kStages;  // K full, V full, K empty, V empty
  // One tile of key indices per producer stream (producer.cuh: K and V).
  static constexpr int kKeyBufferOffset = kBarrierOffset + kBarriers * 8;
  static constexpr int kSmemBytes = kKeyBufferOffset + 2 * kBlockN * 4 + 1024;  // + slack for the 1024-byte alignment

  static_assert(HeadDim == 64 || HeadDim == 128, "built head dims: 64, 128");
  static_assert(BlockM == 64 || BlockM == 128, "built block sizes: 64, 128");
  static_assert(kStages >= 2, "the consumer holds two stages at once (S of tile t, P V of tile t - 1)");
  static_assert(kSmemBytes <= 227 * 1024, "over the sm_90 shared-memory limit");
  static_assert(kConsumerRegs <= 256 && kConsumerRegs >= kLaunchRegs, "register split");
};

}  // namespace fgattn::cuda
