#include "cuda/predict/predict_host.h"

#include <fmt/format.h>

#include <cstdint>

#include "fgattn/error.h"

namespace fgattn::cuda {

void* pool_alloc(std::size_t bytes, const char* what) {
  static const cudaError_t pool_ready = [] {
    int device = 0;
    cudaMemPool_t pool{};
    if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
    if (cudaError_t e = cudaDeviceGetDefaultMemPool(&pool, device); e != cudaSuccess) return e;
    std::uint64_t keep_everything = ~std::uint64_t{0};
    return cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_everything);
  }();
  check_cuda(pool_ready, what);
  void* p = nullptr;
  check_cuda(cudaMallocAsync(&p, bytes, nullptr), what);
  return p;
}

void check_predictor_operands(const TensorView& q, const TensorView& k) {
  check_gpu_operand(q, "q");
  check_gpu_operand(k, "k");
  if (k.dtype != q.dtype) throw Error("k", "dtype must equal q's");
  if (k.batch() != q.batch() || k.heads() != q.heads() || k.head_dim() != q.head_dim())
    throw Error("k", fmt::format("shape {} must be [B, Skv, H, D] with B, H, D of q {}", shape_string(k.shape),
                                 shape_string(q.shape)));
}

ElementType element_type(const TensorView& t) { return t.dtype == DType::bf16 ? ElementType::bf16 : ElementType::f16; }

}  // namespace fgattn::cuda
