// Frontier bookkeeping shared by the CPU and GPU sweeps: series names and defaults, option checks, and the
// summary (cost per series at a few target errors, and block-sparse over fine-grained ratios).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "fgattn/error.h"
#include "fgattn/frontier.h"

namespace fgattn {

std::string FrontierSeries::name() const { return fmt::format("{}x{}", block_m, block_n); }

std::vector<FrontierSeries> default_frontier_series() { return {{64, 1}, {128, 1}, {128, 16}, {64, 64}, {128, 128}}; }

std::vector<double> default_tau_factors() {
  std::vector<double> f;
  for (int e = -4; e <= 10; ++e) f.push_back(std::ldexp(1.0, e));
  return f;
}

void validate_frontier_options(const FrontierOptions& o, std::int64_t seq_q) {
  if (o.series.empty()) throw Error("frontier.series", "must list at least one granularity");
  for (const auto& s : o.series) {
    if (s.block_m < 1) throw Error("frontier.series", fmt::format("{}: block_m must be >= 1", s.name()));
    if (s.block_n < 1) throw Error("frontier.series", fmt::format("{}: block_n must be >= 1", s.name()));
  }
  if (o.tau_factors.empty()) throw Error("frontier.tau_factors", "must list at least one factor");
  for (double f : o.tau_factors)
    if (!(f > 0 && std::isfinite(f))) throw Error("frontier.tau_factors", fmt::format("must be finite and > 0, got {}", f));
  for (double t : o.target_errors)
    if (!(t > 0 && std::isfinite(t))) throw Error("frontier.target_errors", fmt::format("must be finite and > 0, got {}", t));
  if (o.text_tokens < 0 || o.text_tokens > seq_q)
    throw Error("frontier.text_tokens", fmt::format("must be in [0, Sq = {}], got {}", seq_q, o.text_tokens));
  if (!(o.max_error > 0)) throw Error("frontier.max_error", fmt::format("must be > 0, got {}", o.max_error));
  if (o.reps < 1) throw Error("frontier.reps", fmt::format("must be >= 1, got {}", o.reps));
  if (o.warmup < 0) throw Error("frontier.warmup", fmt::format("must be >= 0, got {}", o.warmup));
}

namespace {

// Cost of reaching `target` along one series (its points plus the dense point at its M), by one cost measure.
struct Interpolated {
  double cost = 0.0;
  std::string note;
};

Interpolated cost_at(const std::vector<const FrontierPoint*>& pts, double target,
                     const std::function<double(const FrontierPoint&)>& cost) {
  const FrontierPoint* a = nullptr;  // the cheapest point meeting the target
  for (const auto* p : pts)
    if (p->rel_l2 <= target && (a == nullptr || cost(*p) < cost(*a))) a = p;
  if (a == nullptr) {  // no dense point and nothing meets the target: the most accurate point, as a lower bound
    a = *std::min_element(pts.begin(), pts.end(), [](const auto* x, const auto* y) { return x->rel_l2 < y->rel_l2; });
    return {cost(*a), "lower bound"};
  }
  const FrontierPoint* b = nullptr;  // the closest point above the target that is cheaper than a
  for (const auto* p : pts)
    if (p->rel_l2 > target && cost(*p) < cost(*a) && (b == nullptr || p->rel_l2 < b->rel_l2)) b = p;
  Interpolated r{cost(*a), {}};
  const bool only_dense_meets = std::none_of(pts.begin(), pts.end(), [&](const auto* p) { return p->series != "dense" && p->rel_l2 <= target; });
  if (b == nullptr) {
    if (a->series != "dense") r.note = "upper bound";
    return r;
  }
  // Log-log between a and b; from the dense point (error 0) linear in error.
  const double t = a->rel_l2 > 0 ? std::log(target / a->rel_l2) / std::log(b->rel_l2 / a->rel_l2) : target / b->rel_l2;
  const double ca = cost(*a), cb = cost(*b);
  r.cost = ca > 0 && cb > 0 ? std::exp(std::log(ca) + t * (std::log(cb) - std::log(ca))) : ca + t * (cb - ca);
  if (only_dense_meets) r.note = "from the dense point";
  return r;
}

}  // namespace

void summarize_frontier(FrontierReport& report, const std::vector<double>& target_errors) {
  report.targets.clear();
  report.ratios.clear();
  std::vector<std::string> names;
  for (const auto& p : report.points)
    if (p.series != "dense" && std::find(names.begin(), names.end(), p.series) == names.end()) names.push_back(p.series);
  const bool timed = std::all_of(report.points.begin(), report.points.end(), [](const auto& p) { return p.ms.has_value(); });
  for (double target : target_errors) {
    for (const auto& name : names) {
      std::vector<const FrontierPoint*> pts;
      int block_m = 0;
      for (const auto& p : report.points)
        if (p.series == name) pts.push_back(&p), block_m = p.block_m;
      for (const auto& p : report.points)
        if (p.series == "dense" && p.block_m == block_m) pts.push_back(&p);
      FrontierTarget t;
      t.target = target;
      t.series = name;
      const Interpolated kept = cost_at(pts, target, [](const FrontierPoint& p) { return p.kept_fraction; });
      t.kept_fraction = kept.cost;
      t.note = kept.note;
      if (timed) {
        const Interpolated ms = cost_at(pts, target, [](const FrontierPoint& p) { return *p.ms; });
        t.ms = ms.cost;
        if (t.note.empty()) t.note = ms.note;
      }
      report.targets.push_back(t);
    }
    // M x M over M x 1 wherever both series exist.
    for (const auto& fine : report.targets) {
      if (fine.target != target) continue;
      const auto x = fine.series.find('x');
      const std::string m = fine.series.substr(0, x);
      if (fine.series.substr(x + 1) != "1") continue;
      for (const auto& block : report.targets)
        if (block.target == target && block.series == m + "x" + m) {
          FrontierRatio r;
          r.target = target;
          r.block_m = std::stoi(m);
          r.kept_ratio = fine.kept_fraction > 0 ? block.kept_fraction / fine.kept_fraction : std::numeric_limits<double>::infinity();
          if (fine.ms && block.ms) r.time_ratio = *block.ms / *fine.ms;
          report.ratios.push_back(r);
        }
    }
  }
}

}  // namespace fgattn
