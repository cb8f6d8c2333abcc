// Reading a WebSocket client's frames (RFC 6455 §5) without Beast's read
// operation.
//
// Beast reads one message per asynchronous operation: each costs a trip
// through the scheduler, and a busy connection's messages (one event each)
// were the largest part of the server's time per event. WsFrameParser takes
// whatever bytes one socket read brought and hands out every complete message
// in them, in one go, unmasked in place: the connection delivers them all
// before it reads again.
//
// It checks what a server must: every client frame masked, no reserved bits
// (no extension is ever negotiated), known opcodes, control frames whole and at
// most 125 bytes, continuation frames only inside a fragmented message, the
// message's size against the bound as soon as a header announces it (nothing
// that large is buffered), text as valid UTF-8 and a close frame's code and
// reason. A violation is an error carrying the close code to answer with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace insightd::net {

// Close codes (RFC 6455 §7.4.1).
inline constexpr uint16_t kWsCloseNormal = 1000;
inline constexpr uint16_t kWsCloseProtocolError = 1002;
inline constexpr uint16_t kWsCloseInvalidData = 1007;
inline constexpr uint16_t kWsCloseTooBig = 1009;
// "No status received": a close frame without a code (never sent on the wire).
inline constexpr uint16_t kWsCloseNoStatus = 1005;

// Whether `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing
// above U+10FFFF).
bool valid_utf8(std::string_view s);

class WsFrameParser {
 public:
  enum class Kind {
    kNeedMore,  // no complete frame in what is left; keep it and read more
    kFragment,  // part of a fragmented message, held by the parser: go on
    kMessage,   // a whole text or binary message
    kPing,
    kPong,
    kClose,  // the peer's close frame: close_code (kWsCloseNoStatus when it had none)
    kError,  // a protocol violation: answer with close_code and end the connection
  };
  struct Item {
    Kind kind = Kind::kNeedMore;
    bool binary = false;
    // The message or control payload; valid until the next call (it points into
    // the bytes given, or into the parser for a fragmented message).
    std::string_view payload;
    uint16_t close_code = 0;
    std::string_view error;  // what was wrong (kError)
  };

  explicit WsFrameParser(size_t max_message) : max_message_(max_message) {}

  // Parses the next frame at the start of data[0, size), unmasking its payload
  // in place; `consumed` says how many bytes it took (0 for kNeedMore). After
  // kError the parser must not be used again.
  Item next(char* data, size_t size, size_t& consumed);

  // Bytes of a fragmented message held so far (for tests).
  size_t held() const { return fragments_.size(); }

 private:
  Item fail(uint16_t code, std::string_view why);

  size_t max_message_;
  bool in_message_ = false;         // a fragmented message is under way
  bool release_fragments_ = false;  // a joined message was handed out: free it next
  bool fragments_binary_ = false;
  std::string fragments_;
};

// Appends a frame header: the first byte (FIN, opcode), the length, with the
// mask bit when `masked` (the 4-byte key is the caller's to add).
void append_frame_header(std::string& out, uint8_t first_byte, bool masked, size_t length);

// Appends one unfragmented, unmasked frame (RFC 6455 §5.2: what a server sends)
// holding `payload` as a text or binary message.
inline void append_server_frame(std::string& out, bool binary, std::string_view payload) {
  append_frame_header(out, binary ? 0x82 : 0x81, false, payload.size());
  out.append(payload);
}
// The same with `lead` (unless 0) as the payload's first byte, before `rest`.
inline void append_server_frame(std::string& out, bool binary, char lead, std::string_view rest) {
  if (lead == 0) return append_server_frame(out, binary, rest);
  append_frame_header(out, binary ? 0x82 : 0x81, false, rest.size() + 1);
  out += lead;
  out.append(rest);
}

// One unmasked server frame of any opcode (a pong, a close), FIN set.
std::string make_server_frame(uint8_t opcode, std::string_view payload);
// A close frame with `code` (none for kWsCloseNoStatus).
std::string make_close_frame(uint16_t code);

// One masked client frame (what a browser sends), for tests and fuzzers.
std::string make_client_frame(uint8_t opcode, std::string_view payload, bool fin = true,
                              uint32_t mask = 0x37FA213D);

}  // namespace insightd::net
