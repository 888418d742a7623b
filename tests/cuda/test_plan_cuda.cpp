// The device plan helpers (fgattn/plan_cuda.h) against their host versions: validate_csr_cuda refuses what
// validate_csr refuses with the same message, and schedule_rows_cuda gives schedule_rows' order.
#include <cuda_runtime.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/error_of.h"
#include "common/random_inputs.h"
#include "fgattn/plan.h"
#include "fgattn/plan_cuda.h"
#include "fgattn/row_order.h"

using namespace fgattn;
using testutil::error_of;

namespace {

// A device copy of a host array, freed on scope exit (at least one element, so the pointer is never null).
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host) : count_(host.size()) {
    EXPECT_EQ(cudaMalloc(&ptr_, std::max<std::size_t>(count_, 1) * sizeof(T)), cudaSuccess);
    if (count_ > 0) {
      EXPECT_EQ(cudaMemcpy(ptr_, host.data(), count_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    }
  }
  explicit DeviceArray(std::size_t count) : count_(count) {
    EXPECT_EQ(cudaMalloc(&ptr_, std::max<std::size_t>(count_, 1) * sizeof(T)), cudaSuccess);
  }
  ~DeviceArray() { cudaFree(ptr_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return ptr_; }
  std::vector<T> to_host() const {
    std::vector<T> host(count_);
    if (count_ > 0) {
      EXPECT_EQ(cudaMemcpy(host.data(), ptr_, count_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    }
    return host;
  }

 private:
  T* ptr_ = nullptr;
  std::size_t count_;
};

Plan sizes_of(const Plan& p) { return plan_with_sizes(p.batch, p.heads, p.seq_q, p.seq_kv, p.block_m); }

// Both checks' messages for the same arrays ("no error" when accepted).
std::pair<std::string, std::string> host_and_device_messages(const Plan& sizes, const std::vector<std::int64_t>& offsets,
                                                             const std::vector<std::int32_t>& indices) {
  const DeviceArray<std::int64_t> d_offsets(offsets);
  const DeviceArray<std::int32_t> d_indices(indices);
  return {error_of([&] { validate_csr(sizes, offsets, indices); }),
          error_of([&] {
            validate_csr_cuda(sizes, d_offsets.get(), static_cast<std::int64_t>(offsets.size()), d_indices.get(),
                              static_cast<std::int64_t>(indices.size()));
          })};
}

}  // namespace

TEST(PlanCuda, ValidateCsrCudaAcceptsValidPlans) {
  std::mt19937_64 rng(3);
  for (const Plan& p : {testutil::random_plan(rng, 2, 3, 300, 517, 64, 0.3, {1, 4}), dense_plan(1, 2, 130, 77, 64),
                        testutil::random_plan(rng, 1, 1, 64, 40, 64, 0.0)}) {
    const auto [host, device] = host_and_device_messages(sizes_of(p), p.offsets, p.indices);
    EXPECT_EQ(host, "no error");
    EXPECT_EQ(device, "no error");
  }
}

TEST(PlanCuda, ValidateCsrCudaNamesTheFirstBrokenRowLikeTheHost) {
  std::mt19937_64 rng(5);
  const Plan p = testutil::random_plan(rng, 1, 2, 500, 300, 64, 0.4);
  ASSERT_GT(p.keys(3).size(), 2u);
  ASSERT_GT(p.keys(9).size(), 2u);
  using Corrupt = std::function<void(std::vector<std::int64_t>&, std::vector<std::int32_t>&)>;
  const std::int64_t at3 = p.offsets[3], at9 = p.offsets[9];
  const std::vector<std::pair<const char*, Corrupt>> corruptions = {
      {"unsorted", [&](auto&, auto& i) { std::swap(i[at3], i[at3 + 1]); }},
      {"duplicate", [&](auto&, auto& i) { i[at9 + 1] = i[at9]; }},
      {"key >= seq_kv", [&](auto&, auto& i) { i[at9] = 300; }},
      {"key < 0", [&](auto&, auto& i) { i[at3] = -1; }},
      {"two broken rows: the first is named", [&](auto&, auto& i) { i[at9] = 300, i[at3] = -1; }},
      {"offsets[0] != 0", [&](auto& o, auto&) { o[0] = 1; }},
      {"last offset != nnz", [&](auto& o, auto&) { o.back() -= 1; }},
      {"decreasing", [&](auto& o, auto&) { std::swap(o[4], o[5]); }},
      {"past nnz", [&](auto& o, auto&) { o[6] = std::int64_t{1} << 40; }},
      {"missing key", [&](auto&, auto& i) { i.pop_back(); }},
      {"offsets too short", [&](auto& o, auto&) { o.pop_back(); }},
  };
  for (const auto& [name, corrupt] : corruptions) {
    SCOPED_TRACE(name);
    std::vector<std::int64_t> offsets = p.offsets;
    std::vector<std::int32_t> indices = p.indices;
    corrupt(offsets, indices);
    const auto [host, device] = host_and_device_messages(sizes_of(p), offsets, indices);
    EXPECT_NE(host, "no error");
    EXPECT_EQ(device, host);
  }
}

TEST(PlanCuda, ScheduleRowsCudaEqualsTheHostSchedule) {
  std::mt19937_64 rng(9);
  for (const Plan& p : {testutil::random_plan(rng, 2, 3, 1000, 257, 64, 0.3, {0, 7}),
                        testutil::random_plan(rng, 1, 5, 130, 4000, 128, 0.05), dense_plan(1, 1, 64, 9, 64)}) {
    for (const RowOrder order : {RowOrder::longest_first_per_head, RowOrder::longest_first_global}) {
      SCOPED_TRACE(row_order_name(order));
      const Plan sizes = sizes_of(p);
      const DeviceArray<std::int64_t> offsets(p.offsets);
      const DeviceArray<std::int32_t> order_out(static_cast<std::size_t>(p.rows()));
      const std::size_t bytes = row_schedule_workspace_bytes(sizes, order);
      const DeviceArray<std::uint8_t> workspace(bytes);
      schedule_rows_cuda(offsets.get(), sizes, order, order_out.get(), workspace.get(), bytes);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      EXPECT_EQ(order_out.to_host(), schedule_rows(p, order));
    }
  }
}

TEST(PlanCuda, ScheduleRowsCudaRefusesASmallWorkspace) {
  const Plan p = dense_plan(1, 2, 256, 64, 64);
  const DeviceArray<std::int64_t> offsets(p.offsets);
  const DeviceArray<std::int32_t> order_out(static_cast<std::size_t>(p.rows()));
  const std::size_t bytes = row_schedule_workspace_bytes(sizes_of(p), RowOrder::longest_first_per_head);
  const DeviceArray<std::uint8_t> workspace(bytes);
  EXPECT_THAT(error_of([&] {
                schedule_rows_cuda(offsets.get(), sizes_of(p), RowOrder::longest_first_per_head, order_out.get(),
                                   workspace.get(), bytes - 1);
              }),
              ::testing::HasSubstr("row_schedule_workspace_bytes"));
}
