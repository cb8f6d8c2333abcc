// Engine.IO packet and polling payload codecs, including every malformed form.
#include "socketio/engineio_packet.h"

#include <gtest/gtest.h>

#include "socketio/session_id.h"

namespace insightd::socketio::eio {
namespace {

TEST(EngineIoPacketTest, DecodesEveryTextType) {
  for (char type = '0'; type <= '6'; ++type) {
    auto packet = decode_text(std::string(1, type) + "data");
    ASSERT_TRUE(packet) << type;
    EXPECT_EQ(static_cast<int>(packet->type), type - '0');
    EXPECT_EQ(packet->data, "data");
    EXPECT_FALSE(packet->binary);
  }
}

TEST(EngineIoPacketTest, RefusesEmptyAndUnknownTypes) {
  for (std::string_view bad : {"", "7", "9hello", "abc", "b", "-1", " 4x"}) {
    EXPECT_FALSE(decode_text(bad)) << "'" << bad << "'";
  }
}

TEST(EngineIoPacketTest, TextFrameRoundTrips) {
  EXPECT_EQ(encode_text(Packet::message("hello")), "4hello");
  EXPECT_EQ(encode_text(Packet::text(PacketType::kPing, "probe")), "2probe");
  EXPECT_EQ(encode_text(Packet::text(PacketType::kNoop)), "6");
}

TEST(EngineIoPacketTest, BinaryFramesAreRawBytesWithoutATypePrefix) {
  Packet packet = decode_binary_frame(std::string("\x01\x02\x03\x04", 4));
  EXPECT_TRUE(packet.binary);
  EXPECT_EQ(packet.type, PacketType::kMessage);
  EXPECT_EQ(packet.data, std::string("\x01\x02\x03\x04", 4));
}

TEST(EngineIoPayloadTest, SplitsOnTheRecordSeparator) {
  auto packets = decode_payload(
      "4hello\x1e"
      "2\x1e"
      "4world");
  ASSERT_TRUE(packets);
  ASSERT_EQ(packets->size(), 3u);
  EXPECT_EQ((*packets)[0], Packet::message("hello"));
  EXPECT_EQ((*packets)[1], Packet::text(PacketType::kPing));
  EXPECT_EQ((*packets)[2], Packet::message("world"));
}

TEST(EngineIoPayloadTest, BinaryRecordsAreBase64WithAPrefix) {
  auto packets = decode_payload(
      "4hello\x1e"
      "bAQIDBA==");
  ASSERT_TRUE(packets);
  ASSERT_EQ(packets->size(), 2u);
  EXPECT_EQ((*packets)[1], Packet::binary_message(std::string("\x01\x02\x03\x04", 4)));
  EXPECT_EQ(encode_payload(*packets),
            "4hello\x1e"
            "bAQIDBA==");
}

TEST(EngineIoPayloadTest, JoinsWithOneSeparatorBetweenEveryPacket) {
  // A binary event and its attachment: dropping the separator between them made
  // the official client throw "invalid payload" against another server.
  std::vector<Packet> packets = {Packet::message(R"(451-["e",{"_placeholder":true,"num":0}])"),
                                 Packet::binary_message("\x01\x02\x03"),
                                 Packet::message("42[\"x\"]")};
  EXPECT_EQ(encode_payload(packets),
            "4451-[\"e\",{\"_placeholder\":true,\"num\":0}]\x1e"
            "bAQID\x1e"
            "442[\"x\"]");
}

TEST(EngineIoPayloadTest, RefusesMalformedPayloads) {
  for (std::string_view bad : {"", "\x1e", "4a\x1e",
                               "\x1e"
                               "4a",
                               "4a\x1e\x1e"
                               "4b",
                               "abc",
                               "4ok\x1e"
                               "x",
                               "b!!!!", "bAQ=I", "bA", "bAQIDBA===", "7"}) {
    EXPECT_FALSE(decode_payload(bad)) << "'" << bad << "'";
  }
}

TEST(EngineIoPayloadTest, EmptyBinaryRecordIsAnEmptyBuffer) {
  auto packets = decode_payload("b");
  ASSERT_TRUE(packets);
  EXPECT_EQ((*packets)[0], Packet::binary_message(""));
}

TEST(SessionIdTest, IdsAreUrlSafeAndDistinct) {
  std::string a = random_session_id(), b = random_session_id();
  EXPECT_EQ(a.size(), 20u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
}

}  // namespace
}  // namespace insightd::socketio::eio
