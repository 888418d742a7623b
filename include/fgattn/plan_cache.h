#pragma once
// Plan reuse (FG-Attn's mask reuse): one plan per layer, refreshed on a schedule of forward indices and
// reused in between; the whole cache can be saved to and loaded from a folder of plan files.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fgattn/plan.h"

namespace fgattn {

struct RefreshSchedule {
  // Forwards (0-based) at which every layer's plan is predicted anew; the paper's harness used these of 100.
  std::vector<int> refresh_at = {0, 15, 30, 45, 60, 80};
  bool refresh(int forward) const;
};

class PlanCache {
 public:
  explicit PlanCache(RefreshSchedule schedule = {}) : schedule_(std::move(schedule)) {}
  // True when `layer` has no plan yet or `forward` is a refresh point: the caller predicts and calls put().
  bool needs_plan(int layer, int forward) const;
  void put(int layer, Plan plan);
  // The layer's plan; throws fgattn::Error("layer", ...) when there is none.
  const Plan& get(int layer) const;
  std::size_t size() const { return plans_.size(); }
  void clear() { plans_.clear(); }

  // Writes `layer_<n>.fgplan` for each layer into `folder` (created if missing); load() reads them back.
  void save(const std::string& folder) const;
  static PlanCache load(const std::string& folder, RefreshSchedule schedule = {});

 private:
  RefreshSchedule schedule_;
  std::map<int, Plan> plans_;
};

}  // namespace fgattn
