#include "socketio/socketio_packet.h"

#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "core/event_json.h"

namespace insightd::socketio {
namespace {

namespace json = boost::json;
using sio::Packet;
using sio::PacketType;

Error invalid(std::string_view why) {
  return make_error(ErrorCode::kInvalidArgument, std::string(why));
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Event names the client library uses for itself; an event by one of these names
// cannot come from a well-behaved client.
bool is_reserved_event(std::string_view name) {
  static constexpr std::array<std::string_view, 6> kReserved = {
      "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"};
  for (std::string_view reserved : kReserved) {
    if (name == reserved) return true;
  }
  return false;
}

// A JSON number that is a valid array index: a non-negative integer (JavaScript
// also writes 1 as 1.0 at times).
std::optional<size_t> as_index(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) {
    if (v->get_int64() < 0) return std::nullopt;
    return static_cast<size_t>(v->get_int64());
  }
  if (v->is_uint64()) return static_cast<size_t>(v->get_uint64());
  if (v->is_double()) {
    double d = v->get_double();
    if (d >= 0 && d < 9007199254740992.0 && d == static_cast<double>(static_cast<uint64_t>(d))) {
      return static_cast<size_t>(d);
    }
  }
  return std::nullopt;
}

const json::value* placeholder_num(const json::object& obj) {
  auto it = obj.find("_placeholder");
  if (it == obj.end() || !it->value().is_bool() || !it->value().get_bool()) return nullptr;
  auto num = obj.find("num");
  static const json::value kMissing;  // null: not an index
  return num == obj.end() ? &kMissing : &num->value();
}

json::value placeholder(size_t num) {
  return json::object{{"_placeholder", true}, {"num", num}};
}

Status check_payload(const Packet& p) {
  switch (p.type) {
    case PacketType::kConnect:
      if (p.data && !p.data->is_object() && !p.data->is_null()) {
        return invalid("CONNECT payload must be an object");
      }
      return Status::ok();
    case PacketType::kDisconnect:
      if (p.data) return invalid("DISCONNECT has no payload");
      return Status::ok();
    case PacketType::kEvent:
    case PacketType::kBinaryEvent: {
      const json::array* args = p.data ? p.data->if_array() : nullptr;
      if (args == nullptr || args->empty())
        return invalid("EVENT payload must be a non-empty array");
      if (!args->front().is_string()) return invalid("event name must be a string");
      if (is_reserved_event(args->front().get_string())) return invalid("reserved event name");
      return Status::ok();
    }
    case PacketType::kAck:
    case PacketType::kBinaryAck:
      if (!p.data || !p.data->is_array()) return invalid("ACK payload must be an array");
      return Status::ok();
    case PacketType::kConnectError:
      if (!p.data || !(p.data->is_object() || p.data->is_string())) {
        return invalid("CONNECT_ERROR payload must be an object or a string");
      }
      return Status::ok();
  }
  return invalid("unknown Socket.IO packet type");
}

bool is_binary(PacketType type) {
  return type == PacketType::kBinaryEvent || type == PacketType::kBinaryAck;
}

void append_header(std::string& out, PacketType type, size_t attachments, std::string_view nsp,
                   std::optional<uint64_t> id) {
  out += static_cast<char>('0' + static_cast<int>(type));
  if (is_binary(type)) {
    out += std::to_string(attachments);
    out += '-';
  }
  if (nsp != "/") {
    out += nsp;
    out += ',';
  }
  if (id) out += std::to_string(*id);
}

std::vector<eio::Packet> with_attachments(std::string text, const Payload& payload) {
  std::vector<eio::Packet> packets;
  packets.reserve(1 + payload.buffers.size());
  packets.push_back(eio::Packet::message(std::move(text)));
  for (const std::string& buffer : payload.buffers)
    packets.push_back(eio::Packet::binary_message(buffer));
  return packets;
}

}  // namespace

json::value Payload::add_buffer(std::string bytes) {
  buffers.push_back(std::move(bytes));
  return placeholder(buffers.size() - 1);
}

const std::string* Payload::buffer_of(const json::value& value) const {
  const json::object* obj = value.if_object();
  if (obj == nullptr) return nullptr;
  auto index = as_index(placeholder_num(*obj));
  if (!index || *index >= buffers.size()) return nullptr;
  return &buffers[*index];
}

namespace sio {

Result<Packet> decode(std::string_view text, const DecodeLimits& limits) {
  if (text.empty()) return invalid("empty Socket.IO packet");
  if (text[0] < '0' || text[0] > '6') return invalid("unknown Socket.IO packet type");
  Packet p;
  p.type = static_cast<PacketType>(text[0] - '0');
  size_t i = 1;

  if (is_binary(p.type)) {
    size_t start = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    if (i == start || i >= text.size() || text[i] != '-') {
      return invalid("binary packet without an attachment count");
    }
    auto [end, ec] = std::from_chars(text.data() + start, text.data() + i, p.attachments);
    if (ec != std::errc() || p.attachments > limits.max_attachments) {
      return invalid("too many attachments");
    }
    (void)end;
    ++i;  // the '-'
  }

  if (i < text.size() && text[i] == '/') {
    size_t comma = text.find(',', i);
    size_t stop = comma == std::string_view::npos ? text.size() : comma;
    p.nsp = std::string(text.substr(i, stop - i));
    i = comma == std::string_view::npos ? text.size() : comma + 1;
  }

  if (i < text.size() && is_digit(text[i])) {
    size_t start = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(text.data() + start, text.data() + i, id);
    if (ec != std::errc() || id > kMaxAckId) return invalid("ack id out of range");
    (void)end;
    p.id = id;
  }

  if (i < text.size()) {
    json::parse_options options;
    options.max_depth = static_cast<std::size_t>(limits.max_json_depth);
    boost::system::error_code ec;
    json::value data = json::parse(text.substr(i), ec, {}, options);
    if (ec) return invalid("payload is not valid JSON");
    p.data = std::move(data);
  }

  INSIGHTD_TRY(check_payload(p));
  return p;
}

std::string encode(const Packet& packet) {
  std::string out;
  append_header(out, packet.type, packet.attachments, packet.nsp, packet.id);
  if (packet.data) out += json::serialize(*packet.data);
  return out;
}

Status normalize_placeholders(json::value& value, size_t buffer_count) {
  if (json::array* arr = value.if_array()) {
    for (json::value& item : *arr) INSIGHTD_TRY(normalize_placeholders(item, buffer_count));
    return Status::ok();
  }
  json::object* obj = value.if_object();
  if (obj == nullptr) return Status::ok();
  if (const json::value* num = placeholder_num(*obj)) {
    auto index = as_index(num);
    if (!index || *index >= buffer_count) return invalid("placeholder names no attachment");
    value = placeholder(*index);
    return Status::ok();
  }
  for (auto& entry : *obj) INSIGHTD_TRY(normalize_placeholders(entry.value(), buffer_count));
  return Status::ok();
}

Result<std::optional<Message>> PacketAssembler::on_text(std::string_view text) {
  if (pending_) return invalid("text message while binary attachments were awaited");
  auto packet = decode(text, limits_);
  if (!packet) return packet.error();
  if (is_binary(packet->type) && packet->attachments > 0) {
    pending_ = std::move(*packet);
    return std::optional<Message>();
  }
  pending_ = std::move(*packet);
  return complete();
}

Result<std::optional<Message>> PacketAssembler::on_binary(std::string bytes) {
  if (!pending_) return invalid("binary message without a packet awaiting it");
  buffered_bytes_ += bytes.size();
  if (buffered_bytes_ > limits_.max_attachment_bytes) return invalid("attachments too large");
  buffers_.push_back(std::move(bytes));
  if (buffers_.size() < pending_->attachments) return std::optional<Message>();
  return complete();
}

Result<std::optional<Message>> PacketAssembler::complete() {
  Message message{std::move(*pending_), std::move(buffers_)};
  pending_.reset();
  buffers_.clear();
  buffered_bytes_ = 0;
  // Only binary packets have placeholders: in a plain packet such an object is data.
  if (is_binary(message.packet.type) && message.packet.data) {
    INSIGHTD_TRY(normalize_placeholders(*message.packet.data, message.buffers.size()));
  }
  return std::optional<Message>(std::move(message));
}

namespace {

std::string encode_args_text(PacketType type, std::string_view nsp, std::optional<uint64_t> id,
                             std::optional<std::string_view> event, const Payload& payload) {
  std::string out;
  // Room for all of it when the arguments come as text (an answer): one allocation.
  out.reserve(nsp.size() + (event ? event->size() : 0) + payload.json_text.size() + 40);
  append_header(out, type, payload.buffers.size(), nsp, id);
  out += '[';
  bool first = true;
  if (event) {
    append_json_string(out, *event);
    first = false;
  }
  for (const json::value& v : payload.values) {
    if (!first) out += ',';
    out += json::serialize(v);
    first = false;
  }
  if (!payload.json_text.empty()) {
    if (!first) out += ',';
    out += payload.json_text;
  }
  out += ']';
  return out;
}

}  // namespace

std::vector<eio::Packet> encode_event(std::string_view nsp, std::string_view event,
                                      const Payload& payload, std::optional<uint64_t> id) {
  PacketType type = payload.buffers.empty() ? PacketType::kEvent : PacketType::kBinaryEvent;
  return with_attachments(encode_args_text(type, nsp, id, event, payload), payload);
}

std::vector<eio::Packet> encode_ack(std::string_view nsp, uint64_t id, const Payload& payload) {
  PacketType type = payload.buffers.empty() ? PacketType::kAck : PacketType::kBinaryAck;
  return with_attachments(encode_args_text(type, nsp, id, std::nullopt, payload), payload);
}

}  // namespace sio
}  // namespace insightd::socketio
