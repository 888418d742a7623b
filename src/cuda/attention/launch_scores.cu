// Instantiations and launch of the S-only kernel mode (wgmma_scores.cuh): {bf16, f16} x {D 64, 128} x
// {BLK_M 64, 128}, for the GPU oracle's row LSE and bits. The caller sets all_keys (the oracle scores every key).
#include "cuda/attention/launch_wgmma.cuh"
#include "cuda/attention/params.h"

namespace fgattn::cuda {
namespace {

template <typename T>
cudaError_t launch_scores_element(const AttentionParams& p, cudaStream_t stream) {
  constexpr KernelMode kScores = KernelMode::scores_only;
  if (p.head_dim == 64 && p.block_m == 64) return launch_wgmma<T, WgmmaConfig<64, 64>, kScores>(p, stream);
  if (p.head_dim == 64 && p.block_m == 128) return launch_wgmma<T, WgmmaConfig<64, 128>, kScores>(p, stream);
  if (p.head_dim == 128 && p.block_m == 64) return launch_wgmma<T, WgmmaConfig<128, 64>, kScores>(p, stream);
  if (p.head_dim == 128 && p.block_m == 128) return launch_wgmma<T, WgmmaConfig<128, 128>, kScores>(p, stream);
  return cudaErrorInvalidValue;  // head dim or block size not built
}

}  // namespace

cudaError_t launch_scores(const AttentionParams& p, cudaStream_t stream) {
  if (!p.all_keys) return cudaErrorInvalidValue;
  if (p.element == AttnElement::bf16) return launch_scores_element<__nv_bfloat16>(p, stream);
  if (p.element == AttnElement::f16) return launch_scores_element<__half>(p, stream);
  return cudaErrorInvalidValue;  // element type not built
}

}  // namespace fgattn::cuda
