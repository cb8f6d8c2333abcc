#include "core/arrival_rate.h"

namespace insightd {

void ArrivalRate::add(size_t n, Clock::time_point now) {
  if (since_ == Clock::time_point{}) since_ = now;  // the first measure starts here
  count_ += n;
  const std::chrono::duration<double> span = now - since_;
  if (span >= window_) {
    rate_ = static_cast<double>(count_) / span.count();
    count_ = 0;
    since_ = now;
  }
}

}  // namespace insightd
