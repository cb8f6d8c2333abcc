#include "net/ws_frames.h"

#include <cstring>

namespace insightd::net {
namespace {

constexpr uint8_t kContinuation = 0x0;
constexpr uint8_t kText = 0x1;
constexpr uint8_t kBinary = 0x2;
constexpr uint8_t kClose = 0x8;
constexpr uint8_t kPing = 0x9;
constexpr uint8_t kPong = 0xA;
constexpr size_t kMaxControlPayload = 125;

uint8_t byte_at(const char* p, size_t i) {
  return static_cast<uint8_t>(p[i]);
}

void unmask(char* data, size_t n, const uint8_t key[4]) {
  size_t i = 0;
  if (n >= 8) {
    uint64_t wide = 0;
    uint8_t k8[8];
    for (int j = 0; j < 8; ++j) k8[j] = key[j % 4];
    std::memcpy(&wide, k8, 8);
    for (; i + 8 <= n; i += 8) {
      uint64_t chunk = 0;
      std::memcpy(&chunk, data + i, 8);
      chunk ^= wide;
      std::memcpy(data + i, &chunk, 8);
    }
  }
  for (; i < n; ++i) data[i] = static_cast<char>(static_cast<uint8_t>(data[i]) ^ key[i % 4]);
}

// Codes a peer may send in a close frame (RFC 6455 §7.4 and IANA's registry:
// 1012-1014 were added later; 1004-1006 and 1015 are never sent).
bool valid_close_code(uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

}  // namespace

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // ASCII runs, eight bytes at a time.
    while (i + 8 <= n) {
      uint64_t chunk = 0;
      std::memcpy(&chunk, p + i, 8);
      if ((chunk & 0x8080808080808080ULL) != 0) break;
      i += 8;
    }
    if (i >= n) break;
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // a continuation byte, an overlong lead (C0, C1) or beyond F4
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = p[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return false;
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;
    i += len;
  }
  return true;
}

WsFrameParser::Item WsFrameParser::fail(uint16_t code, std::string_view why) {
  Item item;
  item.kind = Kind::kError;
  item.close_code = code;
  item.error = why;
  return item;
}

WsFrameParser::Item WsFrameParser::next(char* data, size_t size, size_t& consumed) {
  consumed = 0;
  if (release_fragments_) {
    // The joined message was delivered: a megabyte of it is not kept around.
    release_fragments_ = false;
    std::string().swap(fragments_);
  }
  if (size < 2) return {};
  const uint8_t b0 = byte_at(data, 0);
  const uint8_t b1 = byte_at(data, 1);
  const bool fin = (b0 & 0x80) != 0;
  const uint8_t opcode = b0 & 0x0F;
  if ((b0 & 0x70) != 0) return fail(kWsCloseProtocolError, "reserved bits set");
  if ((b1 & 0x80) == 0) return fail(kWsCloseProtocolError, "an unmasked client frame");
  const bool control = (opcode & 0x8) != 0;
  if (opcode != kContinuation && opcode != kText && opcode != kBinary && opcode != kClose &&
      opcode != kPing && opcode != kPong) {
    return fail(kWsCloseProtocolError, "an unknown opcode");
  }
  size_t header = 2;
  uint64_t len = b1 & 0x7F;
  if (len == 126) {
    if (size < 4) return {};
    len = (uint64_t{byte_at(data, 2)} << 8) | byte_at(data, 3);
    if (len < 126) return fail(kWsCloseProtocolError, "a length not in its shortest form");
    header = 4;
  } else if (len == 127) {
    if (size < 10) return {};
    len = 0;
    for (size_t i = 2; i < 10; ++i) len = (len << 8) | byte_at(data, i);
    if ((len >> 63) != 0) return fail(kWsCloseProtocolError, "a frame length over 2^63");
    if (len <= 0xFFFF) return fail(kWsCloseProtocolError, "a length not in its shortest form");
    header = 10;
  }
  if (control) {
    if (!fin) return fail(kWsCloseProtocolError, "a fragmented control frame");
    if (len > kMaxControlPayload)
      return fail(kWsCloseProtocolError, "a control frame over 125 bytes");
  } else if (opcode == kContinuation) {
    if (!in_message_) return fail(kWsCloseProtocolError, "a continuation outside a message");
  } else if (in_message_) {
    return fail(kWsCloseProtocolError, "a new message inside a fragmented one");
  }
  // Bounded as soon as the header says how much is coming.
  if (!control) {
    const size_t before = opcode == kContinuation ? fragments_.size() : 0;
    if (len > max_message_ || before + len > max_message_) {
      return fail(kWsCloseTooBig, "a message over the size limit");
    }
  }
  if (size < header + 4 || size - header - 4 < len) return {};
  uint8_t key[4];
  std::memcpy(key, data + header, 4);
  char* payload = data + header + 4;
  const auto n = static_cast<size_t>(len);
  unmask(payload, n, key);
  consumed = header + 4 + n;
  const std::string_view bytes(payload, n);

  Item item;
  switch (opcode) {
    case kPing:
      item.kind = Kind::kPing;
      item.payload = bytes;
      return item;
    case kPong:
      item.kind = Kind::kPong;
      item.payload = bytes;
      return item;
    case kClose: {
      item.kind = Kind::kClose;
      item.close_code = kWsCloseNoStatus;
      if (n == 1) return fail(kWsCloseProtocolError, "a close frame with a one-byte code");
      if (n >= 2) {
        const auto code =
            static_cast<uint16_t>((uint16_t{byte_at(payload, 0)} << 8) | byte_at(payload, 1));
        if (!valid_close_code(code)) return fail(kWsCloseProtocolError, "an invalid close code");
        if (!valid_utf8(bytes.substr(2)))
          return fail(kWsCloseInvalidData, "a close reason not UTF-8");
        item.close_code = code;
        item.payload = bytes.substr(2);
      }
      return item;
    }
    default:
      break;
  }
  // A data frame.
  if (opcode != kContinuation) fragments_binary_ = opcode == kBinary;
  if (!fin) {
    if (opcode != kContinuation) fragments_.clear();
    in_message_ = true;
    fragments_.append(bytes);
    item.kind = Kind::kFragment;
    return item;
  }
  std::string_view message = bytes;
  if (opcode == kContinuation) {
    fragments_.append(bytes);
    in_message_ = false;
    release_fragments_ = true;
    message = fragments_;
  }
  if (!fragments_binary_ && !valid_utf8(message)) {
    return fail(kWsCloseInvalidData, "a text message not UTF-8");
  }
  item.kind = Kind::kMessage;
  item.binary = fragments_binary_;
  item.payload = message;
  return item;
}

void append_frame_header(std::string& out, uint8_t first_byte, bool masked, size_t length) {
  const uint8_t mask_bit = masked ? 0x80 : 0;
  out.push_back(static_cast<char>(first_byte));
  if (length < 126) {
    out.push_back(static_cast<char>(mask_bit | length));
  } else if (length <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(length >> 8));
    out.push_back(static_cast<char>(length & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>((static_cast<uint64_t>(length) >> shift) & 0xFF));
    }
  }
}

std::string make_server_frame(uint8_t opcode, std::string_view payload) {
  std::string out;
  append_frame_header(out, 0x80 | (opcode & 0x0F), false, payload.size());
  out.append(payload);
  return out;
}

std::string make_close_frame(uint16_t code) {
  if (code == kWsCloseNoStatus) return make_server_frame(kClose, {});
  const char body[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return make_server_frame(kClose, std::string_view(body, 2));
}

std::string make_client_frame(uint8_t opcode, std::string_view payload, bool fin, uint32_t mask) {
  std::string out;
  append_frame_header(out, (fin ? 0x80 : 0) | (opcode & 0x0F), true, payload.size());
  const uint8_t key[4] = {static_cast<uint8_t>(mask >> 24), static_cast<uint8_t>(mask >> 16),
                          static_cast<uint8_t>(mask >> 8), static_cast<uint8_t>(mask)};
  out.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(payload[i]) ^ key[i % 4]));
  }
  return out;
}

}  // namespace insightd::net
