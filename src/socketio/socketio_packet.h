// Socket.IO v5 packets over Engine.IO messages:
//   <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
// followed, for BINARY_EVENT and BINARY_ACK, by one binary Engine.IO message per
// attachment. The JSON refers to each attachment with a placeholder object
// {"_placeholder":true,"num":i}. Pure functions and a per-connection assembler;
// no I/O.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "socketio/engineio_packet.h"

namespace insightd::socketio {

// The arguments of an event or of an ack. Binary buffers travel beside the JSON:
// in `values` each one is a placeholder {"_placeholder":true,"num":i} standing for
// buffers[i], so the values can be kept, copied and sent back as they are.
struct Payload {
  boost::json::array values;
  std::vector<std::string> buffers;
  // For what is sent only: the arguments already written as JSON text,
  // separated by commas, sent after `values` (answers made in bulk skip
  // building boost::json values to serialise them at once).
  std::string json_text;

  Payload() = default;
  explicit Payload(boost::json::array v) : values(std::move(v)) {}
  static Payload of_json_text(std::string text) {
    Payload p;
    p.json_text = std::move(text);
    return p;
  }

  // Keeps `bytes` as a buffer and returns the placeholder to put among the values.
  boost::json::value add_buffer(std::string bytes);

  // The buffer that `value` stands for, or null when it is no placeholder of this payload.
  const std::string* buffer_of(const boost::json::value& value) const;
};

namespace sio {

enum class PacketType : uint8_t {
  kConnect = 0,
  kDisconnect = 1,
  kEvent = 2,
  kAck = 3,
  kConnectError = 4,
  kBinaryEvent = 5,
  kBinaryAck = 6,
};

// Ack ids are JavaScript numbers: above 2^53 - 1 they cannot be told apart.
inline constexpr uint64_t kMaxAckId = (uint64_t{1} << 53) - 1;

struct Packet {
  PacketType type = PacketType::kEvent;
  std::string nsp = "/";
  std::optional<uint64_t> id;              // ids start at 0: 0 is an id like any other
  std::optional<boost::json::value> data;  // absent when the packet has no payload
  size_t attachments = 0;                  // for the binary types
};

struct DecodeLimits {
  size_t max_attachments = 1000;
  size_t max_attachment_bytes = size_t{1024} * 1024;  // all attachments of one packet together
  int max_json_depth = 32;
};

// Decodes the text of one packet and checks its payload against its type, as a
// server receives it: CONNECT carries nothing or an object; DISCONNECT nothing;
// EVENT a non-empty array whose first element is a string that is not a reserved
// name (connect, connect_error, disconnect, disconnecting, newListener,
// removeListener); ACK an array; CONNECT_ERROR an object or a string. Binary types
// need "<n>-". Every violation is kInvalidArgument.
Result<Packet> decode(std::string_view text, const DecodeLimits& limits = {});

// The text of a packet (without attachments).
std::string encode(const Packet& packet);

// A decoded packet with its attachments, placeholders checked and written in the
// canonical form {"_placeholder":true,"num":i}.
struct Message {
  Packet packet;
  std::vector<std::string> buffers;
};

// Puts binary packets back together on one connection: a text message starts a
// packet, its attachments follow as binary messages, in order, possibly spread over
// several polling requests. Text while attachments are awaited, a binary message
// when none is, and a placeholder that names no attachment are errors after which
// the connection must close.
class PacketAssembler {
 public:
  explicit PacketAssembler(DecodeLimits limits = {}) : limits_(limits) {}

  // A complete message, nothing yet (attachments awaited), or an error.
  Result<std::optional<Message>> on_text(std::string_view text);
  Result<std::optional<Message>> on_binary(std::string bytes);

  bool awaiting_attachments() const { return pending_.has_value(); }

 private:
  Result<std::optional<Message>> complete();

  DecodeLimits limits_;
  std::optional<Packet> pending_;
  std::vector<std::string> buffers_;
  size_t buffered_bytes_ = 0;
};

// Checks the placeholders in `value` against `buffer_count` and rewrites each one
// in the canonical form. Exposed for tests.
Status normalize_placeholders(boost::json::value& value, size_t buffer_count);

// The Engine.IO messages that carry an event [event, ...payload.values] (with the
// ack id when given) or an ack, binary attachments included.
std::vector<eio::Packet> encode_event(std::string_view nsp, std::string_view event,
                                      const Payload& payload, std::optional<uint64_t> id = {});
std::vector<eio::Packet> encode_ack(std::string_view nsp, uint64_t id, const Payload& payload);

}  // namespace sio
}  // namespace insightd::socketio
