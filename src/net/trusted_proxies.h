// Which client a request comes from when a reverse proxy stands in front:
// the proxies named in TRUSTED_PROXIES (addresses or CIDR ranges) may say who
// their client was in X-Forwarded-For; nobody else may. The server puts the
// result in kPeerAddressHeader, which the per-address limits (Socket.IO
// sessions, handshakes, failed logins) key on.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace insightd::net {

class TrustedProxies {
 public:
  TrustedProxies() = default;  // trusts nobody: the socket's peer is the client
  // "10.0.0.1, 10.1.0.0/16, ::1"; an error names the entry it cannot read.
  static Result<TrustedProxies> parse(std::string_view list);

  bool empty() const { return ranges_.empty(); }
  bool trusts(const boost::asio::ip::address& a) const;

  // The client's address: `peer` itself unless it is a trusted proxy; then,
  // walking X-Forwarded-For from its right end (the entry `peer` added), the
  // first address that is not a trusted proxy (a proxy chain's own hops are
  // skipped; what a client wrote further left is never believed past an
  // untrusted hop). An entry that is no address ends the walk at the last
  // trusted hop. `forwarded_for` may hold several headers joined by commas;
  // an entry may carry a port ("203.0.113.7:5678", "[2001:db8::1]:443").
  std::string client(std::string_view peer, std::string_view forwarded_for) const;

 private:
  struct Range {
    boost::asio::ip::address base;
    unsigned prefix = 0;  // bits that must match
  };
  std::vector<Range> ranges_;
};

}  // namespace insightd::net
