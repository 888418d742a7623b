// Host encoding of the producer's TMA descriptors (tma_maps.h) through the runtime's driver entry point, so the
// library links libcudart only. Encoding is CPU work (no device call): it runs on every tma_runs launch.
#include "cuda/host/tma_maps.h"

#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled

#include <cstdint>

namespace fgattn::cuda {
namespace {

PFN_cuTensorMapEncodeTiled_v12000 encode_function() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* ptr = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &ptr, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      return PFN_cuTensorMapEncodeTiled_v12000{nullptr};
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(ptr);
  }();
  return fn;
}

bool encode(CUtensorMap& map, const void* base, const std::int64_t (&stride)[3], const AttentionParams& p,
            std::uint32_t box_rows) {
  const auto encode_tiled = encode_function();
  if (encode_tiled == nullptr) return false;
  const CUtensorMapDataType type =
      p.element == AttnElement::bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  // Dims innermost first: (D, Skv, H, B); strides of dims 1..3 in bytes (stride = (b, s, h) in elements).
  const cuuint64_t dims[4] = {static_cast<cuuint64_t>(p.head_dim), static_cast<cuuint64_t>(p.seq_kv),
                              static_cast<cuuint64_t>(p.heads), static_cast<cuuint64_t>(p.batch)};
  const cuuint64_t strides[3] = {static_cast<cuuint64_t>(stride[1]) * 2, static_cast<cuuint64_t>(stride[2]) * 2,
                                 static_cast<cuuint64_t>(stride[0]) * 2};
  for (const std::int64_t s : stride)
    if (s < 0) return false;
  const cuuint32_t box[4] = {64, box_rows, 1, 1};
  const cuuint32_t element_strides[4] = {1, 1, 1, 1};
  return encode_tiled(&map, type, 4, const_cast<void*>(base), dims, strides, box, element_strides,
                      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

}  // namespace

bool encode_kv_maps(AttentionParams& p, int block_n) {
  const auto rows = static_cast<std::uint32_t>(block_n);
  return encode(p.k_tile_map, p.k, p.k_stride, p, rows) && encode(p.v_tile_map, p.v, p.v_stride, p, rows);
}

}  // namespace fgattn::cuda
