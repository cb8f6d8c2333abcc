#include "net/trusted_proxies.h"

#include <gtest/gtest.h>

namespace insightd::net {
namespace {

TrustedProxies parsed(std::string_view list) {
  auto t = TrustedProxies::parse(list);
  EXPECT_TRUE(t.is_ok()) << (t ? "" : t.error().message);
  return t.is_ok() ? *t : TrustedProxies{};
}

TEST(TrustedProxies, NobodyTrustedMeansThePeerWhateverTheHeaderSays) {
  const TrustedProxies none;
  EXPECT_EQ(none.client("203.0.113.7", "198.51.100.1"), "203.0.113.7");
  EXPECT_EQ(parsed("").client("203.0.113.7", "198.51.100.1"), "203.0.113.7");
}

TEST(TrustedProxies, ATrustedProxyNamesItsClient) {
  const auto t = parsed("127.0.0.1, 10.0.0.0/8");
  EXPECT_EQ(t.client("127.0.0.1", "198.51.100.1"), "198.51.100.1");
  EXPECT_EQ(t.client("10.20.30.40", " 198.51.100.1 "), "198.51.100.1");
  // Without the header the proxy is the client.
  EXPECT_EQ(t.client("127.0.0.1", ""), "127.0.0.1");
  // An untrusted peer's header is ignored.
  EXPECT_EQ(t.client("192.0.2.9", "198.51.100.1"), "192.0.2.9");
}

TEST(TrustedProxies, AChainIsWalkedFromTheRightAndAForgedLeftPartIsNotBelieved) {
  const auto t = parsed("127.0.0.1,10.0.0.0/8");
  // client 198.51.100.1 -> proxy 10.1.1.1 -> proxy 127.0.0.1 (the peer)
  EXPECT_EQ(t.client("127.0.0.1", "198.51.100.1, 10.1.1.1"), "198.51.100.1");
  // The client wrote "1.2.3.4" itself: it is left of the first untrusted hop.
  EXPECT_EQ(t.client("127.0.0.1", "1.2.3.4, 198.51.100.1, 10.1.1.1"), "198.51.100.1");
  // Several headers count as one list.
  EXPECT_EQ(t.client("127.0.0.1", "1.2.3.4,198.51.100.1,10.1.1.1"), "198.51.100.1");
  // Every hop trusted: the leftmost.
  EXPECT_EQ(t.client("127.0.0.1", "10.9.9.9, 10.1.1.1"), "10.9.9.9");
  // Ports some proxies add are dropped.
  EXPECT_EQ(t.client("127.0.0.1", "198.51.100.1:5678"), "198.51.100.1");
  EXPECT_EQ(t.client("127.0.0.1", "[2001:db8::1]:443, 10.1.1.1:80"), "2001:db8::1");
  EXPECT_EQ(t.client("127.0.0.1", "2001:db8::2"), "2001:db8::2");
  // Garbage ends the walk at the last trusted hop.
  EXPECT_EQ(t.client("127.0.0.1", "198.51.100.1, unknown"), "127.0.0.1");
  EXPECT_EQ(t.client("127.0.0.1", "unknown, 10.1.1.1"), "10.1.1.1");
}

TEST(TrustedProxies, RangesAndFamilies) {
  const auto t = parsed("192.168.0.0/23, ::1, 2001:db8::/32");
  EXPECT_EQ(t.client("192.168.1.200", "198.51.100.1"), "198.51.100.1");
  EXPECT_EQ(t.client("192.168.2.1", "198.51.100.1"), "192.168.2.1");
  EXPECT_EQ(t.client("::1", "2001:db9::5"), "2001:db9::5");
  EXPECT_EQ(t.client("2001:db8:ffff::1", "198.51.100.1"), "198.51.100.1");
  EXPECT_EQ(t.client("2001:db9::1", "198.51.100.1"), "2001:db9::1");
  // An IPv4 peer seen as IPv4-mapped IPv6 on a dual-stack socket.
  EXPECT_EQ(t.client("::ffff:192.168.0.5", "198.51.100.1"), "198.51.100.1");
  EXPECT_EQ(parsed("0.0.0.0/0").client("8.8.8.8", "198.51.100.1"), "198.51.100.1");
}

TEST(TrustedProxies, WhatIsNoAddressOrRangeIsRefusedByName) {
  for (const char* bad :
       {"10.0.0.0/33", "::1/129", "localhost", "10.0.0.1/", "10.0.0.1/x", "1.2.3.4, nope"}) {
    auto t = TrustedProxies::parse(bad);
    ASSERT_FALSE(t.is_ok()) << bad;
    EXPECT_NE(t.error().message.find("is no IP address or CIDR range"), std::string::npos);
  }
}

}  // namespace
}  // namespace insightd::net
