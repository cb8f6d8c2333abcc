#include "net/ws_frames.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace insightd::net {
namespace {

using Kind = WsFrameParser::Kind;

struct Parsed {
  Kind kind;
  bool binary;
  std::string payload;
  uint16_t code;
};

// Parses everything in `bytes` the way a connection does (one buffer, frame
// after frame); stops at the first kNeedMore or kError.
std::vector<Parsed> parse_all(WsFrameParser& parser, std::string bytes, size_t* left = nullptr) {
  std::vector<Parsed> out;
  size_t used = 0;
  while (true) {
    size_t n = 0;
    auto item = parser.next(bytes.data() + used, bytes.size() - used, n);
    used += n;
    if (item.kind == Kind::kNeedMore) break;
    if (item.kind == Kind::kFragment) continue;
    out.push_back({item.kind, item.binary, std::string(item.payload), item.close_code});
    if (item.kind == Kind::kError) break;
  }
  if (left != nullptr) *left = bytes.size() - used;
  return out;
}

TEST(WsFrames, ReadsEveryMessageOfOneReadUnmasked) {
  WsFrameParser parser(1 << 20);
  std::string medium(300, 'm');  // a 16-bit length
  std::string large(70'000, 'L');
  std::string bytes = make_client_frame(0x1, "42[\"user:event\",{}]") +
                      make_client_frame(0x2, std::string("\x00\x01\xff", 3), true, 0x01020304) +
                      make_client_frame(0x1, medium) + make_client_frame(0x1, large) +
                      make_client_frame(0x1, "");
  auto items = parse_all(parser, bytes);
  ASSERT_EQ(items.size(), 5U);
  EXPECT_EQ(items[0].payload, "42[\"user:event\",{}]");
  EXPECT_FALSE(items[0].binary);
  EXPECT_TRUE(items[1].binary);
  EXPECT_EQ(items[1].payload, std::string("\x00\x01\xff", 3));
  EXPECT_EQ(items[2].payload, medium);
  EXPECT_EQ(items[3].payload, large);
  EXPECT_EQ(items[4].payload, "");
}

TEST(WsFrames, WaitsForTheRestOfAFrameSplitAnywhere) {
  const std::string frame = make_client_frame(0x1, std::string(200, 'x'));
  for (size_t cut = 0; cut < frame.size(); ++cut) {
    WsFrameParser parser(1 << 20);
    size_t left = 0;
    EXPECT_TRUE(parse_all(parser, frame.substr(0, cut), &left).empty()) << cut;
    EXPECT_EQ(left, cut) << "nothing taken from a partial frame";
    auto items = parse_all(parser, frame);
    ASSERT_EQ(items.size(), 1U) << cut;
    EXPECT_EQ(items[0].payload, std::string(200, 'x'));
  }
}

TEST(WsFrames, JoinsFragmentsWithControlFramesBetweenThem) {
  WsFrameParser parser(1 << 20);
  std::string bytes = make_client_frame(0x1, "hel", false) + make_client_frame(0x9, "ping!") +
                      make_client_frame(0x0, "lo ", false) + make_client_frame(0x0, "world");
  auto items = parse_all(parser, bytes);
  ASSERT_EQ(items.size(), 2U);
  EXPECT_EQ(items[0].kind, Kind::kPing);
  EXPECT_EQ(items[0].payload, "ping!");
  EXPECT_EQ(items[1].kind, Kind::kMessage);
  EXPECT_EQ(items[1].payload, "hello world");
  // The joined message is let go of at the next call (parse_all made one, on
  // nothing left): a megabyte of it is not kept by an idle connection.
  EXPECT_EQ(parser.held(), 0U);
  size_t n = 0;
  std::string next = make_client_frame(0x1, "x");
  EXPECT_EQ(parser.next(next.data(), next.size(), n).kind, Kind::kMessage);
}

TEST(WsFrames, ReadsCloseFramesAndTheirCodes) {
  WsFrameParser a(100);
  auto items = parse_all(a, make_client_frame(0x8, std::string("\x03\xe8"
                                                               "bye",
                                                               5)));
  ASSERT_EQ(items.size(), 1U);
  EXPECT_EQ(items[0].kind, Kind::kClose);
  EXPECT_EQ(items[0].code, 1000);
  EXPECT_EQ(items[0].payload, "bye");
  WsFrameParser b(100);
  items = parse_all(b, make_client_frame(0x8, ""));
  ASSERT_EQ(items.size(), 1U);
  EXPECT_EQ(items[0].code, kWsCloseNoStatus);
  for (uint16_t code : {1001, 1011, 1012, 1013, 1014, 3000, 4999}) {
    WsFrameParser c(100);
    const char body[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    items = parse_all(c, make_client_frame(0x8, std::string_view(body, 2)));
    ASSERT_EQ(items.size(), 1U) << code;
    EXPECT_EQ(items[0].kind, Kind::kClose) << code;
    EXPECT_EQ(items[0].code, code);
  }
}

struct Violation {
  std::string name;
  std::string bytes;
  uint16_t code;
};

TEST(WsFrames, RefusesWhatAClientMustNotSendWithTheRightCloseCode) {
  std::string unmasked = make_client_frame(0x1, "hi");
  unmasked[1] = static_cast<char>(unmasked[1] & 0x7F);
  std::string rsv = make_client_frame(0x1, "hi");
  rsv[0] = static_cast<char>(rsv[0] | 0x40);
  std::string huge_length("\x81\xff\x80\x00\x00\x00\x00\x00\x00\x00", 10);
  const std::vector<Violation> cases = {
      {"unmasked", unmasked, kWsCloseProtocolError},
      {"reserved bits", rsv, kWsCloseProtocolError},
      {"opcode 3", make_client_frame(0x3, "x"), kWsCloseProtocolError},
      {"opcode 11", make_client_frame(0xB, "x"), kWsCloseProtocolError},
      {"fragmented ping", make_client_frame(0x9, "x", false), kWsCloseProtocolError},
      {"long ping", make_client_frame(0x9, std::string(126, 'p')), kWsCloseProtocolError},
      {"lone continuation", make_client_frame(0x0, "x"), kWsCloseProtocolError},
      {"text inside a fragmented message",
       make_client_frame(0x1, "a", false) + make_client_frame(0x1, "b"), kWsCloseProtocolError},
      {"invalid UTF-8", make_client_frame(0x1, "\xc3\x28"), kWsCloseInvalidData},
      {"UTF-8 split over fragments, then broken",
       make_client_frame(0x1, "\xe2\x82", false) + make_client_frame(0x0, "\x28"),
       kWsCloseInvalidData},
      {"close code 1005", make_client_frame(0x8, "\x03\xed"), kWsCloseProtocolError},
      {"close code 999", make_client_frame(0x8, "\x03\xe7"), kWsCloseProtocolError},
      {"one-byte close", make_client_frame(0x8, "\x03"), kWsCloseProtocolError},
      {"close reason not UTF-8", make_client_frame(0x8, "\x03\xe8\xff"), kWsCloseInvalidData},
      {"a message over the limit", make_client_frame(0x2, std::string(1001, 'b')), kWsCloseTooBig},
      {"fragments over the limit",
       make_client_frame(0x2, std::string(600, 'b'), false) +
           make_client_frame(0x0, std::string(600, 'b')),
       kWsCloseTooBig},
      {"a 2^63 length", huge_length, kWsCloseProtocolError},
      {"a 16-bit length under 126", std::string("\x81\xfe\x00\x05", 4) + "mask" + "abcde",
       kWsCloseProtocolError},
      {"a 64-bit length under 65536",
       std::string("\x82\xff\x00\x00\x00\x00\x00\x00\x01\x2c", 10) + "mask" + std::string(300, 'b'),
       kWsCloseProtocolError},
  };
  for (const auto& c : cases) {
    WsFrameParser parser(1000);
    auto items = parse_all(parser, c.bytes);
    ASSERT_FALSE(items.empty()) << c.name;
    EXPECT_EQ(items.back().kind, Kind::kError) << c.name;
    EXPECT_EQ(items.back().code, c.code) << c.name;
  }
}

TEST(WsFrames, RefusesAnOversizedMessageFromItsHeaderAlone) {
  WsFrameParser parser(1000);
  std::string header = make_client_frame(0x1, std::string(5000, 'x')).substr(0, 8);
  auto items = parse_all(parser, header);
  ASSERT_EQ(items.size(), 1U) << "no need to buffer 5,000 bytes to know";
  EXPECT_EQ(items[0].code, kWsCloseTooBig);
}

TEST(WsFrames, ValidatesUtf8) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain ascii, longer than eight bytes"));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_TRUE(valid_utf8("\xf4\x8f\xbf\xbf"));   // U+10FFFF
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // beyond U+10FFFF
  EXPECT_FALSE(valid_utf8("\x80"));
  EXPECT_FALSE(valid_utf8("abcdefgh\xe2\x82"));  // cut short
}

TEST(WsFrames, ServerFramesHaveTheRightHeaders) {
  EXPECT_EQ(make_close_frame(1000), std::string("\x88\x02\x03\xe8", 4));
  EXPECT_EQ(make_close_frame(kWsCloseNoStatus), std::string("\x88\x00", 2));
  EXPECT_EQ(make_server_frame(0xA, "hi"), std::string("\x8a\x02hi", 4));
  std::string out;
  append_server_frame(out, false, std::string(300, 'a'));
  EXPECT_EQ(out.substr(0, 4), std::string("\x81\x7e\x01\x2c", 4));
  EXPECT_EQ(out.size(), 304U);
}

}  // namespace
}  // namespace insightd::net
