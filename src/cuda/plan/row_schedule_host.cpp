// schedule_rows_cuda (fgattn/plan_cuda.h): the sizes' checks and the segment of the order, then the device sort.
#include <fmt/format.h>

#include <limits>

#include "cuda/host/checks.h"
#include "cuda/plan/row_schedule.h"
#include "fgattn/error.h"
#include "fgattn/plan_cuda.h"

namespace fgattn {
namespace {

// The sort's sizes for `sizes` in `order`; CUB counts items and segments in int.
struct SortShape {
  std::int64_t rows, segment;
};

SortShape sort_shape(const Plan& sizes, RowOrder order) {
  validate_csr_shape(sizes, sizes.rows() + 1);  // the sizes alone
  if (sizes.rows() > std::numeric_limits<std::int32_t>::max())
    throw Error("plan", fmt::format("{} rows exceed the row schedule's int32 row ids", sizes.rows()));
  return {sizes.rows(), row_order_segment(sizes, order)};
}

}  // namespace

std::size_t row_schedule_workspace_bytes(const Plan& sizes, RowOrder order) {
  const SortShape shape = sort_shape(sizes, order);
  std::size_t bytes = 0;
  cuda::check_cuda(cuda::sort_rows_by_count(nullptr, bytes, nullptr, nullptr, shape.rows, sizes.seq_kv, shape.segment,
                                            nullptr),
                   "row schedule workspace");
  return bytes;
}

void schedule_rows_cuda(const std::int64_t* offsets, const Plan& sizes, RowOrder order, std::int32_t* order_out,
                        void* workspace, std::size_t workspace_bytes, cudaStream_t stream) {
  const SortShape shape = sort_shape(sizes, order);
  if (offsets == nullptr || order_out == nullptr) throw Error("schedule_rows_cuda", "offsets and order_out are null");
  std::size_t needed = 0;
  cuda::check_cuda(cuda::sort_rows_by_count(nullptr, needed, offsets, order_out, shape.rows, sizes.seq_kv,
                                            shape.segment, stream),
                   "row schedule workspace");
  if (workspace == nullptr || workspace_bytes < needed)
    throw Error("workspace", fmt::format("holds {} bytes, the row schedule needs {} (row_schedule_workspace_bytes)",
                                         workspace == nullptr ? 0 : workspace_bytes, needed));
  cuda::check_cuda(cuda::sort_rows_by_count(workspace, needed, offsets, order_out, shape.rows, sizes.seq_kv,
                                            shape.segment, stream),
                   "row schedule");
}

}  // namespace fgattn
