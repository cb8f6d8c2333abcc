#include "net/connection_limiter.h"

#include <algorithm>

namespace insightd::net {

std::shared_ptr<ConnectionLimiter> ConnectionLimiter::make(ConnectionCaps caps) {
  return std::shared_ptr<ConnectionLimiter>(new ConnectionLimiter(caps));
}

ConnectionLimiter::Ticket ConnectionLimiter::admit(const std::string& address, Refusal* refusal) {
  auto refuse = [&](Refusal why) -> Ticket {
    if (refusal != nullptr) *refusal = why;
    return nullptr;
  };
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    if (caps_.max_total != 0 && open_ >= caps_.max_total) return refuse(Refusal::kTotal);
    if (by_address_.size() >= prune_at_) {
      std::erase_if(by_address_, [&](const auto& entry) {
        const PerAddress& a = entry.second;
        const double refill =
            std::chrono::duration<double>(now - a.refilled).count() * caps_.rate_per_address;
        return a.open == 0 &&
               (caps_.rate_per_address == 0 || a.tokens + refill >= caps_.burst_per_address);
      });
      prune_at_ = std::max<size_t>(1024, by_address_.size() * 2);
    }
    auto [it, fresh] = by_address_.try_emplace(address);
    PerAddress& a = it->second;
    if (fresh) {
      a.tokens = caps_.burst_per_address;
      a.refilled = now;
    }
    if (caps_.max_per_address != 0) {
      const auto other = elsewhere_.find(address);
      const size_t elsewhere = other == elsewhere_.end() ? 0 : other->second;
      if (a.open + elsewhere >= caps_.max_per_address) return refuse(Refusal::kPerAddress);
    }
    if (caps_.rate_per_address > 0) {
      const double elapsed = std::chrono::duration<double>(now - a.refilled).count();
      a.tokens = std::min(caps_.burst_per_address, a.tokens + elapsed * caps_.rate_per_address);
      a.refilled = now;
      a.seen = true;
      if (a.tokens < 1) return refuse(Refusal::kRate);
      a.tokens -= 1;
      ++a.admitted;
    }
    ++a.open;
    ++open_;
  }
  if (refusal != nullptr) *refusal = Refusal::kNone;
  auto self = shared_from_this();
  // The ticket owns nothing but its release: a shared_ptr with a deleter.
  return Ticket(static_cast<const void*>(this),
                [self, address](const void*) { self->release(address); });
}

ConnectionLimiter::Ticket ConnectionLimiter::admit_total_only(Refusal* refusal) {
  {
    std::lock_guard lock(mu_);
    if (caps_.max_total != 0 && open_ >= caps_.max_total) {
      if (refusal != nullptr) *refusal = Refusal::kTotal;
      return nullptr;
    }
    ++open_;
  }
  if (refusal != nullptr) *refusal = Refusal::kNone;
  auto self = shared_from_this();
  return Ticket(static_cast<const void*>(this), [self](const void*) {
    std::lock_guard lock(self->mu_);
    --self->open_;
  });
}

void ConnectionLimiter::release(const std::string& address) {
  std::lock_guard lock(mu_);
  --open_;
  auto it = by_address_.find(address);
  if (it != by_address_.end() && it->second.open > 0) --it->second.open;
}

size_t ConnectionLimiter::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

size_t ConnectionLimiter::open_from(const std::string& address) const {
  std::lock_guard lock(mu_);
  auto it = by_address_.find(address);
  return it == by_address_.end() ? 0 : it->second.open;
}

std::vector<std::pair<std::string, uint64_t>> ConnectionLimiter::take_admitted() {
  std::lock_guard lock(mu_);
  return take_seen_admissions(by_address_);
}

void ConnectionLimiter::admitted_elsewhere(const std::string& address, uint64_t n) {
  if (caps_.rate_per_address <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  auto it = by_address_.find(address);
  if (it == by_address_.end()) return;
  PerAddress& a = it->second;
  const double elapsed = std::chrono::duration<double>(now - a.refilled).count();
  a.tokens = std::min(caps_.burst_per_address, a.tokens + elapsed * caps_.rate_per_address);
  a.refilled = now;
  // A debt of at most one burst: the address waits, but not forever.
  a.tokens = std::max(-caps_.burst_per_address, a.tokens - static_cast<double>(n));
}

std::vector<std::pair<std::string, uint64_t>> ConnectionLimiter::local_values() {
  std::vector<std::pair<std::string, uint64_t>> out;
  if (caps_.max_per_address == 0) return out;
  std::lock_guard lock(mu_);
  for (const auto& [address, a] : by_address_) {
    if (a.open > 0) out.emplace_back(address, a.open);
  }
  return out;
}

void ConnectionLimiter::set_elsewhere(std::unordered_map<std::string, uint64_t> values) {
  std::lock_guard lock(mu_);
  elsewhere_ = std::move(values);
}

}  // namespace insightd::net
