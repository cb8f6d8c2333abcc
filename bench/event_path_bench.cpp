// The user-space work of one user:event on the Socket.IO thread, without the
// sockets: decoding the packet and validating the event into a row, or, for a
// plain event, reading its text straight into the row. The figures
// say what a change to the hot path saves per event, steadier than a loaded
// run can. Run: build/bench/event_path_bench
#include <benchmark/benchmark.h>

#include <string>

#include "core/event_validation.h"
#include "core/time.h"
#include "socketio/socketio_packet.h"

namespace insightd {
namespace {

// What bench/ingest/loadgen.mjs sends, as the official client frames it (the
// Socket.IO packet inside its Engine.IO message).
const std::string kPacket =
    R"(212345["user:event",{"eventId":"lg-m1x2y3-7-12345","eventType":"page_view",)"
    R"("userId":"user-381","sessionId":"sess-7-2","timestamp":"2026-12-07T18:40:12.345Z",)"
    R"("metadata":{"page":"/products/45","referrer":"https://example.com/","ms":345}}])";

void BM_DecodeUserEvent(benchmark::State& state) {
  const socketio::sio::DecodeLimits limits;
  for (auto _ : state) {
    auto packet = socketio::sio::decode(kPacket, limits);
    benchmark::DoNotOptimize(packet);
  }
}
BENCHMARK(BM_DecodeUserEvent);

void BM_ValidateUserEvent(benchmark::State& state) {
  auto packet = socketio::sio::decode(kPacket, {});
  const boost::json::value& event = packet->data->get_array().at(1);
  const Timestamp now = parse_rfc3339("2026-12-07T18:40:12.400Z").value();
  for (auto _ : state) {
    EventVerdict verdict = validate_event(event, now);
    benchmark::DoNotOptimize(verdict);
  }
}
BENCHMARK(BM_ValidateUserEvent);

void BM_DecodeAndValidateUserEvent(benchmark::State& state) {
  const socketio::sio::DecodeLimits limits;
  const Timestamp now = parse_rfc3339("2026-12-07T18:40:12.400Z").value();
  for (auto _ : state) {
    auto packet = socketio::sio::decode(kPacket, limits);
    EventVerdict verdict = validate_event(packet->data->get_array().at(1), now);
    benchmark::DoNotOptimize(verdict);
  }
}
BENCHMARK(BM_DecodeAndValidateUserEvent);

// What the Socket.IO thread does instead for a plain event: the arguments'
// text (after the event name) read straight into a row.
void BM_ValidatePlainUserEvent(benchmark::State& state) {
  const size_t comma = kPacket.find(',');
  const std::string_view args =
      std::string_view(kPacket).substr(comma + 1, kPacket.size() - comma - 2);
  const Timestamp now = parse_rfc3339("2026-12-07T18:40:12.400Z").value();
  if (!validate_plain_event_text(args, now)) state.SkipWithError("the event is not plain");
  for (auto _ : state) {
    std::optional<EventVerdict> verdict = validate_plain_event_text(args, now);
    benchmark::DoNotOptimize(verdict);
  }
}
BENCHMARK(BM_ValidatePlainUserEvent);

}  // namespace
}  // namespace insightd

BENCHMARK_MAIN();
