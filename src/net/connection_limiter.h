// ConnectionLimiter: how many connections (or sessions) are open, in total and per
// client address, and whether one more may open. An admitted connection holds a
// Ticket; dropping the last copy of the ticket gives its place back, so the count
// follows the connection wherever it goes (a WebSocket leaves the HTTP server with
// its ticket). A rate of new ones per address is bounded by a token bucket.
//
// Several nodes enforce the per-address caps together through the two shared
// interfaces (cluster/cluster.h): each node's open connections per address are
// added up every second, and the handshakes the others admitted are taken from
// this node's buckets too.
//
// Thread-safe: admit() and ticket release may run on any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/shared_counts.h"

namespace insightd::net {

struct ConnectionCaps {
  size_t max_total = 0;        // 0: no cap
  size_t max_per_address = 0;  // 0: no cap
  // New admissions per second per address, with bursts of up to `burst`; 0: no cap.
  double rate_per_address = 0;
  double burst_per_address = 0;
};

class ConnectionLimiter : public std::enable_shared_from_this<ConnectionLimiter>,
                          public SharedCounts,
                          public SharedGauges {
 public:
  using Ticket = std::shared_ptr<const void>;
  enum class Refusal { kNone, kTotal, kPerAddress, kRate };

  static std::shared_ptr<ConnectionLimiter> make(ConnectionCaps caps);

  // A ticket while `address` is under every cap; nullptr (and why in `refusal`,
  // when given) when it is not.
  Ticket admit(const std::string& address, Refusal* refusal = nullptr);
  // A ticket while the total is under its cap, whatever the address has open:
  // for a trusted reverse proxy, whose connections are many clients'.
  Ticket admit_total_only(Refusal* refusal = nullptr);

  size_t open() const;
  size_t open_from(const std::string& address) const;
  const ConnectionCaps& caps() const { return caps_; }

  // SharedCounts: the handshakes admitted per address (when rate-capped).
  std::vector<std::pair<std::string, uint64_t>> take_admitted() override;
  void admitted_elsewhere(const std::string& address, uint64_t n) override;
  // SharedGauges: the connections open per address (when capped per address).
  std::vector<std::pair<std::string, uint64_t>> local_values() override;
  void set_elsewhere(std::unordered_map<std::string, uint64_t> values) override;

 private:
  explicit ConnectionLimiter(ConnectionCaps caps) : caps_(caps) {}
  void release(const std::string& address);

  struct PerAddress {
    size_t open = 0;
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled;
    uint64_t admitted = 0;  // rate-capped admissions since take_admitted()
    bool seen = false;      // rate-checked since take_admitted()
  };

  const ConnectionCaps caps_;
  mutable std::mutex mu_;
  size_t open_ = 0;
  // An entry lives while the address has connections or an unspent rate debt; the
  // map is pruned of full buckets whenever it doubles, so it stays O(open).
  std::unordered_map<std::string, PerAddress> by_address_;
  size_t prune_at_ = 1024;
  // Per address, the connections the other nodes have open (as last synced).
  std::unordered_map<std::string, uint64_t> elsewhere_;
};

}  // namespace insightd::net
