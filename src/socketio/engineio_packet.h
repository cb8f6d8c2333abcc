// Engine.IO v4 packets and their two encodings: one packet per WebSocket frame
// (text "<type><data>" or a raw binary frame), and the HTTP long-polling payload,
// where packets are joined by the record separator '\x1e' and binary packets
// travel as 'b' + base64. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace insightd::socketio::eio {

enum class PacketType : uint8_t {
  kOpen = 0,
  kClose = 1,
  kPing = 2,
  kPong = 3,
  kMessage = 4,
  kUpgrade = 5,
  kNoop = 6,
};

struct Packet {
  PacketType type = PacketType::kMessage;
  // Only a message may be binary: then `data` holds raw bytes, not UTF-8 text.
  bool binary = false;
  std::string data;

  static Packet text(PacketType type, std::string data = {}) {
    return Packet{type, false, std::move(data)};
  }
  static Packet message(std::string data) {
    return Packet{PacketType::kMessage, false, std::move(data)};
  }
  static Packet binary_message(std::string bytes) {
    return Packet{PacketType::kMessage, true, std::move(bytes)};
  }

  bool operator==(const Packet&) const = default;
};

inline constexpr char kRecordSeparator = '\x1e';

// A text WebSocket frame or one text record of a polling payload: a type digit
// '0'..'6' and the data. Anything else (empty, unknown type) is kInvalidArgument.
Result<Packet> decode_text(std::string_view frame);

// A binary WebSocket frame: always a binary message, the bytes as they are.
Packet decode_binary_frame(std::string_view bytes);

// The text WebSocket frame of a text packet.
std::string encode_text(const Packet& packet);

// A polling payload (a POST body). Every record must decode: an empty body, an
// empty record, bad base64 or an unknown type fail the whole payload.
Result<std::vector<Packet>> decode_payload(std::string_view body);

// Appends `packet` to a polling payload being built in `out`.
void append_to_payload(std::string& out, const Packet& packet);

std::string encode_payload(const std::vector<Packet>& packets);

}  // namespace insightd::socketio::eio
