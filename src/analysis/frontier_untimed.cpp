// CPU-only builds: the frontier is untimed (frontier_cuda.cpp times it in CUDA builds).
#ifndef FGATTN_WITH_CUDA
#include "fgattn/error.h"
#include "fgattn/frontier.h"

namespace fgattn {

bool frontier_can_time() { return false; }

FrontierReport frontier_cuda(const TensorView&, const TensorView&, const TensorView&, const FrontierOptions&) {
  throw Error("frontier", "timing needs the CUDA build (cmake --preset cuda) and an sm_90 GPU; this build is CPU-only");
}

}  // namespace fgattn
#endif
