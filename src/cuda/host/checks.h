#pragma once
// Host-side checks shared by every CUDA entry (attention and predictors): CUDA errors and GPU operands become
// fgattn::Error naming the argument and what is built.
#include <cuda_runtime.h>

#include "fgattn/tensor.h"

namespace fgattn::cuda {

void check_cuda(cudaError_t e, const char* what);
// CUDA tensor, bf16/f16, a built head dim, last dim contiguous, 16-byte aligned data and strides.
void check_gpu_operand(const TensorView& t, const char* name);
// A built query block size (64, 128).
void check_block_m(int block_m);

}  // namespace fgattn::cuda
