#pragma once
// A one-line progress indicator on stderr (stdout stays clean for --json). Redraws in place on a terminal,
// prints one line per stage otherwise.
#include <cstdio>
#include <string>
#include <unistd.h>

namespace fgattn::cli {

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), tty_(isatty(fileno(stderr)) != 0) {}
  ~Progress() { finish(); }
  void operator()(const std::string& stage, double fraction) {
    if (!enabled_) return;
    const int percent = static_cast<int>(fraction * 100.0 + 0.5);
    if (tty_) {
      std::fprintf(stderr, "\r  %-28s %3d%%", stage.c_str(), percent);
      std::fflush(stderr);
      drawn_ = true;
    } else if (stage != last_stage_) {
      std::fprintf(stderr, "  ... %s\n", stage.c_str());
    }
    last_stage_ = stage;
  }
  void finish() {
    if (drawn_) std::fputs("\r\033[K", stderr);
    drawn_ = false;
  }

 private:
  bool enabled_, tty_, drawn_ = false;
  std::string last_stage_;
};

}  // namespace fgattn::cli
