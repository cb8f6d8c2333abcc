// libFuzzer target: any bytes as one event's JSON text. What the validator
// accepts must store in SQLite and read back unchanged (the property test in
// validated_roundtrip_test.cpp checks PostgreSQL too, on generated events).
#include <fmt/format.h>

#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/event_validation.h"
#include "core/json_equivalence.h"
#include "store/migrations.h"
#include "store/open_store.h"

namespace {

insightd::store::Store& store() {
  // One in-memory database for the whole run: one connection, so one database.
  static insightd::store::OpenedStore opened = [] {
    auto o = insightd::store::open_store("sqlite://:memory:",
                                         insightd::store::StoreOptions{.pool_size = 1});
    if (!o || !insightd::store::migrate_up(*o->pool, insightd::SystemClock::instance())) {
      std::fputs("cannot open an in-memory store\n", stderr);
      std::abort();
    }
    return std::move(o).value();
  }();
  return *opened.store;
}

[[noreturn]] void fail(std::string_view what, const insightd::NewEvent& e) {
  std::fprintf(stderr, "%.*s: %s %s\n", static_cast<int>(what.size()), what.data(),
               e.event_id.c_str(), e.metadata_json.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static uint64_t counter = 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const insightd::Timestamp now = insightd::from_unix_ms(1'790'000'000'000);
  insightd::EventVerdict verdict = insightd::validate_event_text(text, now);
  if (!verdict) return 0;
  insightd::NewEvent e = std::move(verdict).event();
  e.event_id = fmt::format("fuzz-{}", counter++);  // fresh, so it is stored now
  auto out = store().events().append(std::span(&e, 1), {1000, 5}, now);
  if (!out) fail("accepted but not storable (" + out.error().message + ")", e);
  auto found = store().events().find(e.event_id);
  if (!found || !found->has_value()) fail("stored but not found", e);
  const insightd::NewEvent& back = (*found)->event;
  if (back.event_type != e.event_type || back.user_id != e.user_id ||
      back.session_id != e.session_id || back.timestamp != e.timestamp ||
      back.received_at != e.received_at ||
      !insightd::json_equivalent(boost::json::parse(back.metadata_json),
                                 boost::json::parse(e.metadata_json))) {
    fail("read back differently", e);
  }
  return 0;
}
