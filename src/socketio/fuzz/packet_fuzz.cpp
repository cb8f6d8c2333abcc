// libFuzzer target for everything that decodes what a client sends: Engine.IO
// frames and polling payloads, Socket.IO packets, and binary reassembly across
// messages. Built by the fuzz preset (clang, libFuzzer, ASan + UBSan):
//   cmake --preset fuzz && cmake --build --preset fuzz
//   build-fuzz/fuzz/fuzz_socketio_packets -max_total_time=60
//   src/socketio/fuzz/corpus/fuzz_socketio_packets
// The first input byte picks the decoder; the rest is its input. For the
// assembler, '\x1e' splits the rest into messages and a leading '!' marks one
// as binary.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "socketio/engineio_packet.h"
#include "socketio/socketio_packet.h"

using namespace insightd::socketio;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto packets = eio::decode_payload(input);
      // What decodes must encode back to something that decodes the same way.
      if (packets) {
        auto again = eio::decode_payload(eio::encode_payload(*packets));
        if (!again || *again != *packets) __builtin_trap();
      }
      break;
    }
    case 1: {
      auto packet = eio::decode_text(input);
      if (packet && eio::encode_text(*packet) != input) __builtin_trap();
      break;
    }
    case 2: {
      auto packet = sio::decode(input);
      if (packet && !sio::decode(sio::encode(*packet))) __builtin_trap();
      break;
    }
    case 3: {
      sio::PacketAssembler assembler;
      for (;;) {
        size_t end = input.find('\x1e');
        std::string_view message = input.substr(0, end);
        auto result = !message.empty() && message.front() == '!'
                          ? assembler.on_binary(std::string(message.substr(1)))
                          : assembler.on_text(message);
        if (!result || end == std::string_view::npos) break;
        input.remove_prefix(end + 1);
      }
      break;
    }
  }
  return 0;
}
