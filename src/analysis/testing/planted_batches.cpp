#include "analysis/testing/planted_batches.h"

#include <fmt/format.h>

#include <array>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include "analysis/json_text.h"

namespace insightd::analysis::planted {
namespace {

namespace json = boost::json;

NewEvent make(int id, std::string_view type, int user, int session, Timestamp at,
              const json::object& metadata) {
  NewEvent e;
  e.event_id = fmt::format("evt_{:05d}", id);
  e.event_type = std::string(type);
  e.user_id = fmt::format("user_{:03d}", user);
  e.session_id = fmt::format("sess_{:03d}", session);
  e.timestamp = at;
  e.received_at = at;
  e.metadata_json = to_json_text(metadata);
  return e;
}

constexpr std::array<std::string_view, 5> kPages = {"/home", "/products", "/pricing", "/blog",
                                                    "/docs"};
constexpr std::array<std::string_view, 3> kReferrers = {"google.com", "direct", "news.example"};

}  // namespace

Timestamp base_time() {
  return *parse_rfc3339("2026-03-02T10:00:00Z");
}

std::vector<NewEvent> page_views(int count, Millis span, Timestamp start) {
  std::vector<NewEvent> out;
  out.reserve(static_cast<size_t>(count));
  const int64_t step = count > 1 ? span.count() / (count - 1) : 0;
  for (int i = 0; i < count; ++i) {
    const int session = i % 25;
    // Pages and referrers cycle at other periods than sessions, so that each
    // session sees a mix.
    out.push_back(make(i, "page_view", session % 20, session, start + Millis(step * i),
                       {{"page", kPages[static_cast<size_t>(i * 3 % 7) % kPages.size()]},
                        {"referrer", kReferrers[static_cast<size_t>(i % 4) % kReferrers.size()]},
                        {"device", i % 3 == 0 ? "mobile" : "desktop"}}));
  }
  return out;
}

std::vector<NewEvent> checkout_collapse(Timestamp start) {
  std::vector<NewEvent> out;
  int id = 0;
  auto at = [&](int minute_tenths) { return start + Millis(int64_t{minute_tenths} * 6000); };
  for (int s = 0; s < 28; ++s) {
    const int t0 = s * 3;  // sessions start 18 s apart and overlap
    out.push_back(
        make(id++, "page_view", s, s, at(t0),
             {{"page", s % 2 == 0 ? "/products/42" : "/products"}, {"referrer", "google.com"}}));
    if (s >= 22) {
      out.push_back(make(id++, "page_view", s, s, at(t0 + 1), {{"page", "/pricing"}}));
      continue;
    }
    out.push_back(make(id++, "add_to_cart", s, s, at(t0 + 1), {{"sku", "sku_42"}, {"price", 49}}));
    out.push_back(make(id++, "checkout_start", s, s, at(t0 + 2), {{"page", "/checkout"}}));
    if (s < 20) {
      out.push_back(make(id++, "payment_failed", s, s, at(t0 + 3),
                         {{"page", "/checkout"}, {"error", "card_declined"}, {"status", 402}}));
    } else {
      out.push_back(
          make(id++, "purchase", s, s, at(t0 + 3), {{"page", "/checkout/done"}, {"amount", 49}}));
    }
  }
  return out;  // 28 + 22 * 3 + 6 = 100 events
}

std::vector<NewEvent> error_spike(Timestamp start) {
  std::vector<NewEvent> out = page_views(100, std::chrono::minutes(10), start);
  for (size_t i = 0; i < out.size(); i += 4) {
    const int status = i % 8 == 0 ? 500 : 503;
    out[i].event_type = "api_error";
    out[i].metadata_json = to_json_text(json::object{
        {"endpoint", "/api/cart"}, {"status", status}, {"message", "upstream timeout"}});
  }
  return out;
}

std::vector<MetricSnapshot> steady_history(int batches) {
  std::vector<MetricSnapshot> out;
  for (int b = 0; b < batches; ++b) {
    // Spans of 9 to 11 minutes: rates of about 9 to 11 events per minute.
    const Millis span = std::chrono::seconds(540 + (b * 37) % 120);
    const auto events = page_views(100, span, base_time() - std::chrono::hours(b + 1));
    out.push_back(compute_statistics(events, {}).snapshot);
  }
  return out;
}

std::string to_jsonl(const NewEvent& e) {
  json::object o;
  o["eventId"] = e.event_id;
  o["eventType"] = e.event_type;
  if (e.user_id) o["userId"] = *e.user_id;
  if (e.session_id) o["sessionId"] = *e.session_id;
  o["timestamp"] = format_timestamp(e.timestamp);
  o["metadata"] = json::parse(e.metadata_json);
  return to_json_text(o);
}

}  // namespace insightd::analysis::planted
