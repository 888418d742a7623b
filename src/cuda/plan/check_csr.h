#pragma once
// The device CSR check's kernel (check_csr.cu), behind validate_csr_cuda (fgattn/plan_cuda.h). Plain types only:
// .cu files build as C++17 and cannot include plan.h.
#include <cuda_runtime.h>

#include <cstdint>

namespace fgattn::cuda {

// What the kernel finds; the host turns it into validate_csr's message.
struct CsrCheckResult {
  unsigned long long first_bad_row;   // kNoBadRow when every row keeps the rules
  long long first_offset, last_offset;  // offsets[0] and offsets[rows]
};
constexpr unsigned long long kNoBadRow = ~0ull;

// Sets result->first_bad_row to the first row r whose offsets decrease or pass nnz, or whose keys leave [0, seq_kv)
// or fail to increase; the call resets result first.
cudaError_t check_csr_rows(const std::int64_t* offsets, std::int64_t rows, const std::int32_t* indices,
                           std::int64_t nnz, std::int64_t seq_kv, CsrCheckResult* result, cudaStream_t stream);

}  // namespace fgattn::cuda
