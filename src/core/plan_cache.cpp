#include "fgattn/plan_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "fgattn/error.h"

namespace fgattn {

bool RefreshSchedule::refresh(int forward) const {
  return std::find(refresh_at.begin(), refresh_at.end(), forward) != refresh_at.end();
}

bool PlanCache::needs_plan(int layer, int forward) const {
  return schedule_.refresh(forward) || plans_.find(layer) == plans_.end();
}

void PlanCache::put(int layer, Plan plan) {
  if (layer < 0) throw Error("layer", fmt::format("must be >= 0, got {}", layer));
  validate(plan);
  plans_.insert_or_assign(layer, std::move(plan));
}

const Plan& PlanCache::get(int layer) const {
  const auto it = plans_.find(layer);
  if (it == plans_.end()) throw Error("layer", fmt::format("no plan cached for layer {}", layer));
  return it->second;
}

void PlanCache::save(const std::string& folder) const {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) throw Error(folder, "cannot create the plan folder: " + ec.message());
  for (const auto& [layer, plan] : plans_)
    save_plan(plan, (std::filesystem::path(folder) / fmt::format("layer_{}.fgplan", layer)).string());
}

PlanCache PlanCache::load(const std::string& folder, RefreshSchedule schedule) {
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) throw Error(folder, "is not a folder of plan files");
  PlanCache cache(std::move(schedule));
  const std::regex name(R"(layer_(\d{1,9})\.fgplan)");
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    std::smatch match;
    const std::string file = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(file, match, name))
      cache.plans_.insert_or_assign(std::stoi(match[1]), load_plan(entry.path().string()));
  }
  return cache;
}

}  // namespace fgattn
