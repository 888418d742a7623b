// Instantiations and launch of the S-only kernel mode (consumer_scores.cuh): {bf16, f16} x {D 64, 128} x
// {BLK_M 64, 128}, for the GPU oracle's row LSE and bits. The caller sets all_keys (the oracle scores every key).
#include "cuda/attention/params.h"
#include "cuda/host/launch.cuh"

namespace fgattn::cuda {
namespace {

template <typename T, int D, int BlockM>
struct LaunchScores {
  static cudaError_t run(const AttentionParams& p, cudaStream_t stream) {
    return launch_kernel<T, KernelTraits<D, BlockM>, KernelMode::scores_only>(p, stream);
  }
};

}  // namespace

cudaError_t launch_scores(const AttentionParams& p, cudaStream_t stream) {
  if (!p.all_keys) return cudaErrorInvalidValue;
  return dispatch_built<LaunchScores>(p, stream);
}

}  // namespace fgattn::cuda
