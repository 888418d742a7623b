// The equal-error table: oracle plans at M x 1, M x 16 and M x M, Top-CDF plans, each run through the CPU
// reference and compared with dense; then the M x M density needed to match the M x 1 plan's error.
#include "fgattn/analysis.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <tuple>

#include "analysis/f32_copy.h"
#include "cpu/parallel.h"
#include "fgattn/attention.h"
#include "fgattn/error.h"

namespace fgattn {
namespace {

using analysis::to_f32;

double relative_error(const HostTensor& out, const HostTensor& dense) {
  const auto* o = reinterpret_cast<const float*>(out.bytes.data());
  const auto* r = reinterpret_cast<const float*>(dense.bytes.data());
  double diff = 0, norm = 0;
  for (std::int64_t i = 0; i < out.numel(); ++i) {
    diff += (static_cast<double>(o[i]) - r[i]) * (static_cast<double>(o[i]) - r[i]);
    norm += static_cast<double>(r[i]) * r[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : 0.0;
}

class Evaluator {
 public:
  Evaluator(const TensorView& q, const TensorView& k, const TensorView& v, int threads)
      : q_(to_f32(q, "q")), k_(to_f32(k, "k")), v_(to_f32(v, "v")), threads_(threads) {
    dense_ = run(dense_plan(q.batch(), q.heads(), q.seq(), k.seq(), 64));
  }
  HostTensor run(const Plan& plan) const {
    HostTensor out = HostTensor::zeros(DType::f32, Layout::BSHD, q_.shape[0], q_.shape[1], q_.shape[2], q_.shape[3]);
    AttentionOptions options;
    options.num_threads = threads_;
    attention(q_.view(), k_.view(), v_.view(), plan, out.view(), nullptr, options);
    return out;
  }
  double error(const Plan& plan) const { return relative_error(run(plan), dense_); }
  const HostTensor& q() const { return q_; }
  const HostTensor& k() const { return k_; }
  int threads() const { return threads_; }

 private:
  HostTensor q_, k_, v_, dense_;
  int threads_;
};

AnalysisRow row_for(const Evaluator& eval, const Plan& plan, std::string predictor, std::string granularity, double tau,
                    double seconds) {
  return {std::move(predictor), std::move(granularity), tau, plan.density(), eval.error(plan), seconds,
          plan_quality(eval.q().view(), eval.k().view(), plan, 0, eval.threads())};
}

// Every distinct group score of an M x M plan is a threshold where its density changes; bisect over them for
// the sparsest M x M plan whose error does not exceed `target`. Error grows as tau rises (fewer groups kept).
std::pair<AnalysisRow, Plan> block_plan_at_error(const Evaluator& eval, const SliceScores& scores, double target,
                                                 const AnalysisOptions& options) {
  const int n = scores.block_m;
  std::vector<float> group_max;
  const std::int64_t rows = static_cast<std::int64_t>(scores.scores.size()) / scores.seq_kv;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t g = 0; g < scores.seq_kv; g += n) {
      float m = 0;
      for (std::int64_t j = g; j < std::min<std::int64_t>(scores.seq_kv, g + n); ++j) m = std::max(m, scores.at(r, j));
      group_max.push_back(m);
    }
  std::sort(group_max.begin(), group_max.end());
  group_max.erase(std::unique(group_max.begin(), group_max.end()), group_max.end());
  // Thresholds just below each distinct score: tau_i keeps every group scoring >= group_max[i].
  auto tau_at = [&](std::size_t i) { return i == 0 ? -1.0 : static_cast<double>(group_max[i - 1]); };
  std::size_t lo = 0, hi = group_max.size();  // tau_at(lo) keeps everything (error 0); find the largest ok index
  int step = 0;
  const int steps = static_cast<int>(std::ceil(std::log2(static_cast<double>(group_max.size()) + 1)));
  while (lo < hi) {
    const std::size_t mid = (lo + hi + 1) / 2;
    if (eval.error(plan_from_scores(scores, tau_at(mid), n)) <= target) lo = mid; else hi = mid - 1;
    if (options.progress) options.progress("block plan at equal error", static_cast<double>(++step) / steps);
  }
  Plan plan = plan_from_scores(scores, tau_at(lo), n);
  return {row_for(eval, plan, "oracle", "MxM", tau_at(lo), 0.0), plan};
}

}  // namespace

AnalysisReport analyze(const TensorView& q, const TensorView& k, const TensorView& v, const AnalysisOptions& options) {
  const int M = options.block_m;
  if (M < 1) throw Error("block_m", fmt::format("must be >= 1, got {}", M));
  auto report_progress = [&](const std::string& stage, double fraction) {
    if (options.progress) options.progress(stage, fraction);
  };
  report_progress("dense reference", 0.0);
  const Evaluator eval(q, k, v, options.num_threads);
  report_progress("slice scores", 0.0);
  const SliceScores scores = compute_slice_scores(eval.q().view(), eval.k().view(), M, options.num_threads);
  const double default_tau = 0.5 / static_cast<double>(k.seq());
  const double tau = options.tau >= 0 ? options.tau : default_tau;

  AnalysisReport report;
  report.block_m = M;
  report.rows.push_back({"dense", "all", 0.0, 1.0, 0.0, 0.0, PlanQuality{0.0, 0.0, false, q.batch() * q.heads() * q.seq()}});
  report.fine_plan = plan_from_scores(scores, tau, 1);
  report.fine = row_for(eval, report.fine_plan, "oracle", "Mx1", tau, scores.seconds);
  report.rows.push_back(report.fine);
  const std::vector<std::pair<std::string, int>> coarser = {{"Mx16", 16}, {"MxM", M}};
  for (double factor : {0.25, 1.0, 2.0, 4.0}) {
    const double t = tau * factor;
    if (factor != 1.0) report.rows.push_back(row_for(eval, plan_from_scores(scores, t, 1), "oracle", "Mx1", t, scores.seconds));
    for (const auto& [name, n] : coarser)
      if (n > 1 && n <= M) report.rows.push_back(row_for(eval, plan_from_scores(scores, t, n), "oracle", name, t, scores.seconds));
    report_progress("oracle plans", factor / 4.0);
  }
  for (double cdf : {0.9, 0.95}) {
    TopCdfOptions topcdf;
    topcdf.block_m = M;
    topcdf.tau = cdf;
    topcdf.num_threads = options.num_threads;
    const Prediction p = topcdf_plan(eval.q().view(), eval.k().view(), topcdf);
    report.rows.push_back(row_for(eval, p.plan, "topcdf", p.report.granularity, cdf, p.report.seconds));
    report_progress("top-cdf plans", cdf);
  }
  auto [block_row, block_plan] = block_plan_at_error(eval, scores, report.fine.rel_error, options);
  report.block_at_equal_error = block_row;
  report.block_plan = std::move(block_plan);
  report.rows.push_back(block_row);
  // Table order: predictor, then finest granularity first, then rising tau.
  auto rank = [](const AnalysisRow& r) {
    const int predictor = r.predictor == "dense" ? 0 : r.predictor == "oracle" ? 1 : 2;
    const int granularity = r.granularity == "Mx1" ? 0 : r.granularity == "MxM" ? 2 : 1;
    return std::tuple{predictor, granularity, r.tau};
  };
  std::stable_sort(report.rows.begin(), report.rows.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  report_progress("done", 1.0);
  return report;
}

}  // namespace fgattn
