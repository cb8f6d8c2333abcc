#include "socketio/engineio_packet.h"

#include "core/base64.h"

namespace insightd::socketio::eio {

Result<Packet> decode_text(std::string_view frame) {
  if (frame.empty()) return make_error(ErrorCode::kInvalidArgument, "empty packet");
  char type = frame.front();
  if (type < '0' || type > '6') {
    return make_error(ErrorCode::kInvalidArgument, "unknown Engine.IO packet type");
  }
  return Packet{static_cast<PacketType>(type - '0'), false, std::string(frame.substr(1))};
}

Packet decode_binary_frame(std::string_view bytes) {
  return Packet::binary_message(std::string(bytes));
}

std::string encode_text(const Packet& packet) {
  std::string out;
  out.reserve(1 + packet.data.size());
  out += static_cast<char>('0' + static_cast<int>(packet.type));
  out += packet.data;
  return out;
}

Result<std::vector<Packet>> decode_payload(std::string_view body) {
  std::vector<Packet> packets;
  for (;;) {
    size_t end = body.find(kRecordSeparator);
    std::string_view record = body.substr(0, end);
    if (!record.empty() && record.front() == 'b') {
      auto bytes = base64_decode(record.substr(1));
      if (!bytes) return make_error(ErrorCode::kInvalidArgument, "invalid base64 in payload");
      packets.push_back(Packet::binary_message(std::move(*bytes)));
    } else {
      auto packet = decode_text(record);
      if (!packet) return packet.error();
      packets.push_back(std::move(*packet));
    }
    if (end == std::string_view::npos) break;
    body.remove_prefix(end + 1);
  }
  return packets;
}

void append_to_payload(std::string& out, const Packet& packet) {
  if (!out.empty()) out += kRecordSeparator;
  if (packet.binary) {
    out += 'b';
    out += base64_encode(packet.data);
  } else {
    out += static_cast<char>('0' + static_cast<int>(packet.type));
    out += packet.data;
  }
}

std::string encode_payload(const std::vector<Packet>& packets) {
  std::string out;
  for (const Packet& packet : packets) append_to_payload(out, packet);
  return out;
}

}  // namespace insightd::socketio::eio
