// libFuzzer target for net::WsFrameParser, the reader of every WebSocket client's
// frames. The first byte sets how the bytes arrive (split into reads of 1 to
// 256 bytes, as a connection would get them, keeping what a read left over);
// the rest are the bytes. Checked:
//  - nothing crashes or reads out of bounds (the sanitizers watch), and the
//    parser never takes more bytes than it was given;
//  - no message exceeds the size bound, and every text message is UTF-8;
//  - a partial frame takes nothing, and after an error nothing more is parsed;
//  - the same bytes give the same items whatever the reads' sizes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "net/ws_frames.h"

namespace {

constexpr size_t kMax = 4096;

struct Item {
  int kind;
  bool binary;
  std::string payload;
  uint16_t code;
  bool operator==(const Item&) const = default;
};

std::vector<Item> parse(const uint8_t* data, size_t size, size_t chunk) {
  using Kind = insightd::net::WsFrameParser::Kind;
  insightd::net::WsFrameParser parser(kMax);
  std::vector<Item> items;
  std::string held;
  size_t pos = 0;
  while (pos < size) {
    const size_t n = chunk == 0 ? size - pos : std::min(chunk, size - pos);
    held.append(reinterpret_cast<const char*>(data + pos), n);
    pos += n;
    size_t used = 0;
    for (;;) {
      size_t taken = 0;
      auto item = parser.next(held.data() + used, held.size() - used, taken);
      if (taken > held.size() - used) std::abort();
      used += taken;
      if (item.kind == Kind::kNeedMore) {
        if (taken != 0) std::abort();
        break;
      }
      if (item.kind == Kind::kFragment) continue;
      if (item.kind == Kind::kMessage) {
        if (item.payload.size() > kMax) std::abort();
        if (!item.binary && !insightd::net::valid_utf8(item.payload)) std::abort();
      }
      items.push_back(
          {static_cast<int>(item.kind), item.binary, std::string(item.payload), item.close_code});
      if (item.kind == Kind::kError) return items;
    }
    held.erase(0, used);
  }
  return items;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0];
  auto whole = parse(data + 1, size - 1, 0);
  auto split = parse(data + 1, size - 1, chunk);
  if (whole != split) std::abort();
  return 0;
}
