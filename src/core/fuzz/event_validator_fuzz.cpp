// libFuzzer target: any bytes as one event's JSON text. The validator must never
// crash, and whatever it accepts must satisfy the limits it promises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/event_validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const insightd::Timestamp now = insightd::from_unix_ms(1'790'000'000'000);
  const insightd::EventVerdict verdict = insightd::validate_event_text(text, now);
  if (verdict) {
    const insightd::NewEvent& e = verdict.event();
    if (e.event_type.empty() || e.event_id.empty() || e.metadata_json.empty() ||
        e.metadata_json.size() > insightd::kMaxMetadataBytes || e.received_at != now) {
      std::abort();
    }
  } else if (verdict.rejection().code.empty() || verdict.rejection().message.empty()) {
    std::abort();
  }
  return 0;
}
