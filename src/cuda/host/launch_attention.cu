// Instantiations and launch of the attention kernel: {bf16, f16} x {D 64, 128} x {BLK_M 64, 128}.
// The host (dispatch.cpp) has already refused anything else.
#include "cuda/attention/params.h"
#include "cuda/host/launch.cuh"

namespace fgattn::cuda {
namespace {

template <typename T, int D, int BlockM>
struct LaunchAttention {
  static cudaError_t run(const AttentionParams& p, cudaStream_t stream) {
    return launch_kernel<T, KernelTraits<D, BlockM>>(p, stream);
  }
};

}  // namespace

cudaError_t launch_attention(const AttentionParams& p, cudaStream_t stream) {
  return dispatch_built<LaunchAttention>(p, stream);
}

}  // namespace fgattn::cuda
