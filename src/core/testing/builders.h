// Builders for the tests of every module: instants written as text, and
// events with sensible defaults that a test changes only where it matters.
//
//   const Timestamp t = at("2026-11-29T10:00:05Z");
//   NewEvent e = EventBuilder("e1").type("click").user("u1").at(kT0).build();
//   std::vector<NewEvent> batch = events("b", 10, kT0);  // b-0 ... b-9
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/model.h"
#include "core/time.h"

namespace insightd::testing {

// An RFC 3339 instant; a typo in a test throws rather than giving the epoch.
inline Timestamp at(std::string_view rfc3339) {
  auto t = parse_rfc3339(rfc3339);
  if (!t) throw std::invalid_argument(fmt::format("not an RFC 3339 instant: {}", rfc3339));
  return *t;
}

// The instant the tests' simulated clocks start at: 2026-11-29T10:00:00Z.
inline constexpr Timestamp kT0{std::chrono::sys_days{std::chrono::year{2026} / 11 / 29} +
                               std::chrono::hours{10}};

// A valid page_view by user_1 in session_1, sent and received at kT0, with a
// small metadata object.
class EventBuilder {
 public:
  explicit EventBuilder(std::string event_id) {
    e_.event_id = std::move(event_id);
    e_.event_type = "page_view";
    e_.user_id = "user_1";
    e_.session_id = "session_1";
    e_.timestamp = e_.received_at = kT0;
    e_.metadata_json = R"({"page":"/products","n":1})";
  }
  EventBuilder& type(std::string t) {
    e_.event_type = std::move(t);
    return *this;
  }
  EventBuilder& user(std::optional<std::string> u) {
    e_.user_id = std::move(u);
    return *this;
  }
  EventBuilder& session(std::optional<std::string> s) {
    e_.session_id = std::move(s);
    return *this;
  }
  // Sent and received at `t`.
  EventBuilder& at(Timestamp t) {
    e_.timestamp = e_.received_at = t;
    return *this;
  }
  // The client's time alone (the server received it at received_at).
  EventBuilder& sent(Timestamp t) {
    e_.timestamp = t;
    return *this;
  }
  EventBuilder& received(Timestamp t) {
    e_.received_at = t;
    return *this;
  }
  EventBuilder& metadata(std::string json) {
    e_.metadata_json = std::move(json);
    return *this;
  }
  NewEvent build() const { return e_; }
  operator NewEvent() const { return e_; }  // NOLINT: a builder stands for what it builds

 private:
  NewEvent e_;
};

// `n` default events "<prefix>-0" ... "<prefix>-<n-1>", received at `t`.
inline std::vector<NewEvent> events(std::string_view prefix, int n, Timestamp t = kT0) {
  std::vector<NewEvent> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out.push_back(EventBuilder(fmt::format("{}-{}", prefix, i)).at(t));
  return out;
}

}  // namespace insightd::testing
