#pragma once
// The speed-quality frontier (issue 4): oracle plans swept over tau at M x 1, M x 16 and M x M granularity, each
// point with its kept fraction, kernel time (GPU only) and output error against dense attention.
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fgattn/tensor.h"

namespace fgattn {

// One series of the frontier: oracle plans with query blocks of block_m and key groups of block_n.
struct FrontierSeries {
  int block_m = 128;
  int block_n = 1;
  std::string name() const;  // "128x1", "128x16", "128x128"
};

// 64x1, 128x1, 128x16, 64x64, 128x128: each M x 1 series has its block-sparse M x M twin at the same M.
std::vector<FrontierSeries> default_frontier_series();
// tau = factor / Skv for factor = 1/16, 1/8, ..., 1024; 0.5 is the paper's default. Coarse groups need the large
// factors (their score is the max over M x N probabilities); fine ones stop early (FrontierOptions::max_error).
std::vector<double> default_tau_factors();

struct FrontierOptions {
  std::vector<FrontierSeries> series = default_frontier_series();
  std::vector<double> tau_factors = default_tau_factors();
  std::vector<double> target_errors = {0.005, 0.01, 0.02, 0.05};  // summary: cost each series needs (rel. L2)
  double max_error = 0.5;        // a series stops raising tau after its first point above this relative L2 error
  std::int64_t text_tokens = 0;  // leading text tokens, kept by every plan (docs/design.md); 0: none
  int num_threads = 0;           // CPU work (reference attention, scores): 0 = all cores
  int warmup = 2, reps = 10;     // GPU timing: launches discarded, then timed (median reported)
  std::function<void(const std::string& stage, double fraction)> progress;  // optional
};

struct FrontierPoint {
  std::string series;       // FrontierSeries::name(), or "dense" for the dense plan at block_m
  int block_m = 0, block_n = 0;
  double tau = 0.0;         // absolute threshold (0 for dense)
  double tau_factor = 0.0;  // tau * Skv
  double kept_fraction = 0.0;       // Plan::density(): kept M x 1 slices / all
  std::optional<double> ms;         // median kernel time; absent without a GPU
  double rel_l2 = 0.0;              // ||O - O_dense|| / ||O_dense||
  std::optional<double> psnr_db;    // 10 log10(max|O_dense|^2 / MSE); absent when the error is exactly 0
};

// For one target error and series: the cost (ms, kept fraction) to reach it: the cheapest point at or below the
// target, interpolated towards the closest cheaper point above it (log cost against log error).
struct FrontierTarget {
  double target = 0.0;
  std::string series;
  std::optional<double> ms;
  double kept_fraction = 0.0;
  std::string note;  // empty; "from the dense point" (no swept point reaches the target: interpolated from dense);
                     // "upper bound" (even the sparsest swept point is below the target); "lower bound" (no dense
                     // point given and no point reaches the target)
};

// Block-sparse over fine-grained at one target error and one M: how much more time (kept fraction) M x M needs.
struct FrontierRatio {
  double target = 0.0;
  int block_m = 0;
  std::optional<double> time_ratio;  // ms(M x M) / ms(M x 1)
  double kept_ratio = 0.0;           // kept(M x M) / kept(M x 1)
};

struct FrontierReport {
  std::string backend;          // "cpu-reference" (untimed) or "cuda"
  std::string error_reference;  // what "dense" means for rel_l2 and psnr
  std::optional<double> dense_vs_double_rel_l2;  // GPU: the dense kernel's own rounding error on a sample
  std::string device;           // GPU name, empty on the CPU
  std::array<std::int64_t, 4> shape{};  // q's (B, S, H, D)
  double max_error = 0.5;        // a series stops raising tau after its first point above this relative L2 error
  std::int64_t text_tokens = 0;
  std::vector<FrontierPoint> points;    // per series: the dense point first, then rising tau
  std::vector<FrontierTarget> targets;  // per target error and series
  std::vector<FrontierRatio> ratios;    // per target error and M with both an M x 1 and an M x M series
};

// The untimed sweep on the CPU: oracle plans from exact slice scores, errors from the double reference attention.
// q, k, v: CPU tensors. O(S^2 H D) per point: meant for small problems (tiny, small, a few heads of a capture).
FrontierReport frontier_cpu(const TensorView& q, const TensorView& k, const TensorView& v, const FrontierOptions& options);

// The timed sweep on the GPU (CUDA builds with a device; else throws fgattn::Error): q, k, v on the host (converted
// to bf16 and uploaded) or on the device (bf16/f16). Plans from oracle_plan_cuda, each timed with CUDA events;
// errors against the same kernel's dense output, all heads.
FrontierReport frontier_cuda(const TensorView& q, const TensorView& k, const TensorView& v, const FrontierOptions& options);

// Whether frontier_cuda can run here: built with CUDA and a device is visible.
bool frontier_can_time();

// Fills report.targets and report.ratios from report.points (used by both sweeps; exposed for tests).
void summarize_frontier(FrontierReport& report, const std::vector<double>& target_errors);

// Checks the options (series, tau factors, targets, reps) against q's sizes; throws fgattn::Error naming the field.
void validate_frontier_options(const FrontierOptions& options, std::int64_t seq_q);

}  // namespace fgattn
