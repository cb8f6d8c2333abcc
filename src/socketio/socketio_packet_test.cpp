// Socket.IO packet codec and binary reassembly, including every malformed form.
#include "socketio/socketio_packet.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace insightd::socketio::sio {
namespace {

namespace json = boost::json;

TEST(SocketIoDecodeTest, ConnectToTheMainNamespace) {
  auto p = decode("0");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, PacketType::kConnect);
  EXPECT_EQ(p->nsp, "/");
  EXPECT_FALSE(p->data);
  EXPECT_FALSE(p->id);
}

TEST(SocketIoDecodeTest, NamespaceEndsAtACommaOrAtTheEnd) {
  auto with_comma = decode("0/admin,{\"token\":\"123\"}");
  ASSERT_TRUE(with_comma);
  EXPECT_EQ(with_comma->nsp, "/admin");
  EXPECT_EQ(with_comma->data->at("token"), "123");
  auto without = decode("0/random");
  ASSERT_TRUE(without);
  EXPECT_EQ(without->nsp, "/random");
  auto disconnect = decode("1/admin,");
  ASSERT_TRUE(disconnect);
  EXPECT_EQ(disconnect->type, PacketType::kDisconnect);
  EXPECT_EQ(disconnect->nsp, "/admin");
}

TEST(SocketIoDecodeTest, AckIdZeroIsAnId) {
  auto p = decode("20[\"foo\"]");
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->id.has_value());
  EXPECT_EQ(*p->id, 0u);
  auto q = decode("3/admin,13[\"bar\"]");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->type, PacketType::kAck);
  EXPECT_EQ(*q->id, 13u);
  EXPECT_EQ(q->nsp, "/admin");
}

TEST(SocketIoDecodeTest, BinaryPacketsCarryTheirAttachmentCount) {
  auto p =
      decode(R"(52-/admin,7["baz",{"_placeholder":true,"num":0},{"num":1,"_placeholder":true}])");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, PacketType::kBinaryEvent);
  EXPECT_EQ(p->attachments, 2u);
  EXPECT_EQ(p->nsp, "/admin");
  EXPECT_EQ(*p->id, 7u);
}

TEST(SocketIoDecodeTest, RefusesEveryMalformedForm) {
  for (std::string_view bad : {
           "",                     // nothing
           "abc",                  // unknown type
           "7[\"x\"]",             // type out of range
           "2{}",                  // event payload not an array
           "2[]",                  // empty event
           "2[1]",                 // event name not a string
           "2abc[\"message\",1]",  // junk where the id would be
           "2[\"message\"",        // truncated JSON
           "2[\"message\"]x",      // trailing junk
           "2",                    // event without payload
           "2[\"connect\"]",       // reserved names
           "2[\"connect_error\"]",
           "2[\"disconnect\"]",
           "2[\"disconnecting\"]",
           "2[\"newListener\"]",
           "2[\"removeListener\"]",
           "5",                                // binary without count
           "5[\"x\"]",                         // binary without count
           "51[\"x\"]",                        // count without '-'
           "5-[\"x\"]",                        // '-' without count
           "6-1[]",                            //
           "599999999999999999999-[\"x\"]",    // count overflow
           "51001-[\"x\"]",                    // over the attachment limit
           "1{}",                              // disconnect with payload
           "0[]",                              // connect payload not an object
           "0\"token\"",                       // connect payload not an object
           "3[]x",                             //
           "31{}",                             // ack payload not an array
           "3",                                // ack without payload
           "29007199254740992[\"x\"]",         // ack id beyond 2^53 - 1
           "299999999999999999999999[\"x\"]",  // ack id overflow
           "4[1]",                             // connect error neither object nor string
       }) {
    EXPECT_FALSE(decode(bad)) << "'" << bad << "'";
  }
}

TEST(SocketIoDecodeTest, DeepJsonIsRefused) {
  std::string deep = "2[\"x\"," + std::string(100, '[') + std::string(100, ']') + "]";
  EXPECT_FALSE(decode(deep));
}

TEST(SocketIoEncodeTest, WritesTheDocumentedForms) {
  EXPECT_EQ(encode(Packet{PacketType::kConnect, "/", {}, {}, 0}), "0");
  EXPECT_EQ(encode(Packet{PacketType::kConnect, "/admin", {}, json::parse(R"({"sid":"x"})"), 0}),
            R"(0/admin,{"sid":"x"})");
  EXPECT_EQ(encode(Packet{PacketType::kDisconnect, "/", {}, {}, 0}), "1");
  EXPECT_EQ(encode(Packet{PacketType::kDisconnect, "/admin", {}, {}, 0}), "1/admin,");
  EXPECT_EQ(encode(Packet{PacketType::kConnectError,
                          "/random",
                          {},
                          json::parse(R"({"message":"Invalid namespace"})"),
                          0}),
            R"(4/random,{"message":"Invalid namespace"})");
  EXPECT_EQ(encode(Packet{PacketType::kAck, "/admin", 13, json::parse(R"(["bar"])"), 0}),
            R"(3/admin,13["bar"])");
}

TEST(SocketIoEncodeTest, EventsAndAcksWithAttachments) {
  Payload payload;
  payload.values.push_back(payload.add_buffer(std::string("\x01\x02", 2)));
  payload.values.push_back(payload.add_buffer(std::string("\x03\x04", 2)));
  auto event = encode_event("/admin", "baz", payload);
  ASSERT_EQ(event.size(), 3u);
  EXPECT_EQ(event[0].data,
            R"(52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
  EXPECT_TRUE(event[1].binary);
  EXPECT_EQ(event[2].data, std::string("\x03\x04", 2));

  auto ack = encode_ack("/", 15, payload);
  EXPECT_EQ(ack[0].data, R"(62-15[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
  EXPECT_EQ(encode_ack("/", 0, Payload())[0].data, "30[]");
  EXPECT_EQ(encode_event("/", "hey", Payload(json::array{"Jude"}))[0].data, R"(2["hey","Jude"])");
  EXPECT_EQ(encode_event("/", "hey", Payload(), 0)[0].data, R"(20["hey"])");
  // Arguments already written as JSON text go after the values, as they are.
  EXPECT_EQ(encode_event("/", "hey", Payload::of_json_text(R"({"a":1},[2])"))[0].data,
            R"(2["hey",{"a":1},[2]])");
  EXPECT_EQ(encode_ack("/", 7, Payload::of_json_text(R"({"ok":true})"))[0].data,
            R"(37[{"ok":true}])");
  EXPECT_EQ(encode_event("/", "q\"uote", Payload())[0].data, R"(2["q\"uote"])");
}

TEST(PacketAssemblerTest, PlainPacketsCompleteAtOnce) {
  PacketAssembler assembler;
  auto message = assembler.on_text(R"(2["hello",1])");
  ASSERT_TRUE(message);
  ASSERT_TRUE(message->has_value());
  EXPECT_EQ((*message)->packet.type, PacketType::kEvent);
  EXPECT_FALSE(assembler.awaiting_attachments());
}

TEST(PacketAssemblerTest, ReconstructsAttachmentsWithPlaceholdersInEitherKeyOrder) {
  PacketAssembler assembler;
  auto start = assembler.on_text(
      R"(52-["message",{"num":1,"_placeholder":true},{"_placeholder":true,"num":0}])");
  ASSERT_TRUE(start);
  EXPECT_FALSE(start->has_value());
  EXPECT_TRUE(assembler.awaiting_attachments());
  auto middle = assembler.on_binary("first");
  ASSERT_TRUE(middle);
  EXPECT_FALSE(middle->has_value());
  auto done = assembler.on_binary("second");
  ASSERT_TRUE(done);
  ASSERT_TRUE(done->has_value());
  const Message& m = **done;
  ASSERT_EQ(m.buffers.size(), 2u);
  // Canonical placeholders, still pointing at the right buffers.
  EXPECT_EQ(json::serialize(*m.packet.data),
            R"(["message",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}])");
  Payload payload(m.packet.data->as_array());
  payload.buffers = m.buffers;
  EXPECT_EQ(*payload.buffer_of(payload.values[1]), "second");
  EXPECT_EQ(*payload.buffer_of(payload.values[2]), "first");
  EXPECT_EQ(payload.buffer_of(payload.values[0]), nullptr);
}

TEST(PacketAssemblerTest, BinaryPacketWithNoAttachmentsCompletesAtOnce) {
  PacketAssembler assembler;
  auto message = assembler.on_text(R"(50-["message",1])");
  ASSERT_TRUE(message);
  EXPECT_TRUE(message->has_value());
}

TEST(PacketAssemblerTest, RefusesBadPlaceholders) {
  for (std::string_view bad : {
           R"(51-["m",{"_placeholder":true,"num":1}])",          // out of range
           R"(51-["m",{"_placeholder":true,"num":-1}])",         // negative
           R"(51-["m",{"_placeholder":true,"num":"0"}])",        // not a number
           R"(51-["m",{"_placeholder":true}])",                  // no num
           R"(51-["m",{"_placeholder":true,"num":0.5}])",        // not an integer
           R"(51-["m",{"a":[{"_placeholder":true,"num":3}]}])",  // nested
       }) {
    PacketAssembler assembler;
    auto start = assembler.on_text(bad);
    ASSERT_TRUE(start) << bad;
    EXPECT_FALSE(assembler.on_binary("x")) << bad;
  }
}

TEST(PacketAssemblerTest, PlaceholderLookalikesInPlainPacketsAreData) {
  PacketAssembler assembler;
  auto message = assembler.on_text(R"(2["m",{"_placeholder":true,"num":9}])");
  ASSERT_TRUE(message);
  ASSERT_TRUE(message->has_value());
}

TEST(PacketAssemblerTest, TextWhileAwaitingAttachmentsIsAnError) {
  PacketAssembler assembler;
  ASSERT_TRUE(assembler.on_text(R"(51-["m",{"_placeholder":true,"num":0}])"));
  EXPECT_FALSE(assembler.on_text(R"(2["m"])"));
}

TEST(PacketAssemblerTest, BinaryWithoutAPacketIsAnError) {
  PacketAssembler assembler;
  EXPECT_FALSE(assembler.on_binary("stray"));
}

TEST(PacketAssemblerTest, AttachmentBytesAreBounded) {
  DecodeLimits limits;
  limits.max_attachment_bytes = 10;
  PacketAssembler assembler(limits);
  ASSERT_TRUE(
      assembler.on_text(R"(52-["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])"));
  ASSERT_TRUE(assembler.on_binary("123456"));
  EXPECT_FALSE(assembler.on_binary("123456"));
}

}  // namespace
}  // namespace insightd::socketio::sio
