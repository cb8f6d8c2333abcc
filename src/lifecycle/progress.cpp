#include "lifecycle/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

namespace insightd::lifecycle {

namespace {

std::string clock_text(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds));
  return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

}  // namespace

Progress::Progress(std::string what, std::string unit, int64_t total, bool terminal, std::FILE* out)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      terminal_(terminal),
      out_(out),
      started_(Clock::now()) {}

bool Progress::stderr_is_terminal() {
  return isatty(STDERR_FILENO) == 1;
}

void Progress::update(int64_t done) {
  if (!terminal_) return;
  const auto now = Clock::now();
  if (drew_ && now - drawn_ < std::chrono::milliseconds(100)) return;
  drawn_ = now;
  drew_ = true;
  const double secs = std::chrono::duration<double>(now - started_).count();
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  std::string line;
  if (total_ > 0) {
    const double part = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(part * kWidth);
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    line = fmt::format("\r[{}{}] {:3.0f}% {} / {} {}  {:.0f}/s  ETA {}", std::string(filled, '#'),
                       std::string(kWidth - filled, '.'), part * 100, done, total_, unit_, rate,
                       clock_text(eta));
  } else {
    line = fmt::format("\r{} {}  {:.0f}/s", done, unit_, rate);
  }
  std::fputs(line.c_str(), out_);
  std::fputs("\x1b[K", out_);  // clears what a longer line left
  std::fflush(out_);
}

void Progress::finish(int64_t done, const std::string& suffix) {
  if (terminal_ && drew_) std::fputs("\r\x1b[K", out_);
  const double secs = std::chrono::duration<double>(Clock::now() - started_).count();
  std::fputs(fmt::format("{} {} {} in {:.1f} s ({:.0f} {}/s){}\n", what_, done, unit_, secs,
                         secs > 0 ? static_cast<double>(done) / secs : 0, unit_, suffix)
                 .c_str(),
             out_);
  std::fflush(out_);
}

}  // namespace insightd::lifecycle
