#include "net/trusted_proxies.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace insightd::net {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The address in `text`, or an unspecified one (is_unspecified() and no error
// flag: callers test `ok`).
boost::asio::ip::address address_of(std::string_view text, bool& ok) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  ok = !ec;
  // An IPv4 client seen on a dual-stack socket: compare it as IPv4.
  if (ok && a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::array<unsigned char, 16> bytes_of(const boost::asio::ip::address& a) {
  std::array<unsigned char, 16> out{};
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.begin());
  } else {
    const auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), out.begin());
  }
  return out;
}

// An X-Forwarded-For entry without the port some proxies add:
// "203.0.113.7:5678" -> "203.0.113.7", "[2001:db8::1]:443" -> "2001:db8::1".
std::string_view without_port(std::string_view entry) {
  if (entry.starts_with('[')) {
    const size_t close = entry.find(']');
    return close == std::string_view::npos ? entry : entry.substr(1, close - 1);
  }
  const size_t colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
    return entry.substr(0, colon);  // one colon: IPv4 with a port (IPv6 has several)
  }
  return entry;
}

}  // namespace

Result<TrustedProxies> TrustedProxies::parse(std::string_view list) {
  TrustedProxies out;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view entry = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (entry.empty()) continue;
    const size_t slash = entry.find('/');
    bool ok = false;
    Range r;
    r.base = address_of(entry.substr(0, slash), ok);
    const unsigned width = r.base.is_v4() ? 32 : 128;
    r.prefix = width;
    if (ok && slash != std::string_view::npos) {
      const std::string_view bits = entry.substr(slash + 1);
      const auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), r.prefix);
      ok = ec == std::errc() && end == bits.data() + bits.size() && !bits.empty() &&
           r.prefix <= width;
    }
    if (!ok) {
      return Error{ErrorCode::kInvalidArgument,
                   fmt::format("'{}' is no IP address or CIDR range (e.g. 10.0.0.0/8)", entry)};
    }
    out.ranges_.push_back(r);
  }
  return out;
}

bool TrustedProxies::trusts(const boost::asio::ip::address& peer) const {
  if (ranges_.empty()) return false;
  const auto a = peer.is_v6() && peer.to_v6().is_v4_mapped()
                     ? boost::asio::ip::address(boost::asio::ip::make_address_v4(
                           boost::asio::ip::v4_mapped, peer.to_v6()))
                     : peer;
  const auto bytes = bytes_of(a);
  return std::any_of(ranges_.begin(), ranges_.end(), [&](const Range& r) {
    if (r.base.is_v4() != a.is_v4()) return false;
    const auto base = bytes_of(r.base);
    const unsigned whole = r.prefix / 8;
    if (!std::equal(base.begin(), base.begin() + whole, bytes.begin())) return false;
    const unsigned rest = r.prefix % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (base[whole] & mask) == (bytes[whole] & mask);
  });
}

std::string TrustedProxies::client(std::string_view peer, std::string_view forwarded_for) const {
  bool ok = false;
  auto hop = address_of(peer, ok);
  if (!ok || ranges_.empty() || !trusts(hop)) return std::string(peer);
  std::string client = hop.to_string();
  while (!forwarded_for.empty()) {
    const size_t comma = forwarded_for.rfind(',');
    const std::string_view entry =
        trim(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
    forwarded_for =
        comma == std::string_view::npos ? std::string_view() : forwarded_for.substr(0, comma);
    hop = address_of(without_port(entry), ok);
    if (!ok) break;  // not an address: believe nothing further left
    client = hop.to_string();
    if (!trusts(hop)) break;
  }
  return client;
}

}  // namespace insightd::net
