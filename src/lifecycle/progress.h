// Progress of a long command on stderr: a bar redrawn in place (events done,
// of how many, rate, ETA) when stderr is a terminal, at most ten times a
// second; otherwise nothing until the plain summary line at the end.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace insightd::lifecycle {

class Progress {
 public:
  // `what`: the verb of the summary ("exported"); `unit`: what is counted
  // ("events", "lines"); `total`: what done() is expected to reach (0:
  // unknown, no ETA). `terminal`: draw the bar.
  Progress(std::string what, std::string unit, int64_t total, bool terminal,
           std::FILE* out = stderr);

  // `done` units so far.
  void update(int64_t done);
  // The last bar (if any) ended, then "<what> N <unit> in T s (R <unit>/s)<suffix>".
  void finish(int64_t done, const std::string& suffix = "");

  // Whether stderr is a terminal.
  static bool stderr_is_terminal();

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_;
  std::string unit_;
  int64_t total_;
  bool terminal_;
  std::FILE* out_;
  Clock::time_point started_;
  Clock::time_point drawn_{};
  bool drew_ = false;
};

}  // namespace insightd::lifecycle
