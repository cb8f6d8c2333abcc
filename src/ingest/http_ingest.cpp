#include "ingest/http_ingest.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <future>

#include "core/event_validation.h"

namespace insightd::ingest {
namespace {

namespace http = net::http;

void add_cors(net::Response& res, const net::Request& req, const HttpIngestOptions& options) {
  if (!options.cors_origin) {
    res.set(http::field::access_control_allow_origin, "*");
    return;
  }
  const auto origin = req[http::field::origin];
  if (origin == *options.cors_origin) {
    res.set(http::field::access_control_allow_origin, *options.cors_origin);
    res.set(http::field::vary, "Origin");
  }
}

// The write key of a header or the query (nullopt: none there).
std::optional<std::string> write_key(const net::Request& req) {
  if (auto k = req.find("X-Write-Key"); k != req.end()) return std::string(k->value());
  const std::string_view auth = req[http::field::authorization];
  if (auth.starts_with("Bearer ")) return std::string(auth.substr(7));
  if (req.target().find('?') != std::string_view::npos) {
    auto q = net::query_params(req);
    if (auto it = q.find("writeKey"); it != q.end()) return it->second;
  }
  return std::nullopt;
}

// A request a browser sends without asking first (no preflight): any type but
// application/json (text/plain from sendBeacon, or none).
bool simple_request(const net::Request& req) {
  const std::string_view type = req[http::field::content_type];
  return !type.starts_with("application/json");
}

net::Response handle(const net::Request& req, IngestService& service,
                     const HttpIngestOptions& options) {
  auto respond = [&](net::Response res) {
    add_cors(res, req, options);
    return res;
  };
  if (options.cors_origin && simple_request(req)) {
    const std::string_view origin = req[http::field::origin];
    if (!origin.empty() && origin != *options.cors_origin) {
      // Readable by that page (this answer only), so that its client stops
      // rather than retrying what will never be taken.
      net::Response res = net::error_response(
          http::status::forbidden, "origin_not_allowed",
          fmt::format("events are taken from pages of {} only", *options.cors_origin));
      res.set(http::field::access_control_allow_origin, origin);
      res.set(http::field::vary, "Origin");
      return res;
    }
  }
  std::optional<std::string> key = write_key(req);
  // A key in the body ({"events": [...], "writeKey"}) is read once parsed.
  const bool key_ok = service.authorized(key);
  auto unauthorized = [&] {
    return respond(net::error_response(http::status::unauthorized, "unauthorized",
                                       "a valid write key is required (X-Write-Key header, "
                                       "Authorization: Bearer, ?writeKey= or \"writeKey\" beside "
                                       "\"events\" in the body)"));
  };
  // Without a key outside the body, only a small body is parsed to look for
  // one (a beacon, or the client's batches of at most 60 KB of events): a
  // request nobody has authenticated never makes the node parse a large body.
  if (!key_ok && req.body().find("writeKey") == std::string::npos) return unauthorized();
  if (!key_ok && req.body().size() > kMaxBodyKeyBytes) {
    return respond(net::error_response(
        http::status::unauthorized, "unauthorized",
        fmt::format("a write key in the body is read only from bodies of at most {} bytes (this "
                    "one has {}): send it in the X-Write-Key header or Authorization: Bearer",
                    kMaxBodyKeyBytes, req.body().size())));
  }
  if (req.body().size() > options.max_body_bytes) {
    return respond(net::error_response(http::status::payload_too_large, "payload_too_large",
                                       fmt::format("the body is {} bytes; the limit is {} bytes",
                                                   req.body().size(), options.max_body_bytes)));
  }
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(req.body(), ec);
  if (ec) {
    if (!key_ok) return unauthorized();
    return respond(net::error_response(http::status::bad_request, "invalid_json",
                                       "the body is not valid JSON: " + ec.message()));
  }
  if (!key_ok) {
    const auto* k = body.is_object() ? body.as_object().if_contains("writeKey") : nullptr;
    if (k == nullptr || !k->is_string() || !service.authorized(std::string_view(k->as_string()))) {
      return unauthorized();
    }
    key = std::string(k->as_string());
  }
  // One event, an array of events, or {"events": [...]}.
  std::vector<boost::json::value> events;
  if (body.is_array()) {
    events.assign(body.as_array().begin(), body.as_array().end());
  } else if (body.is_object() && body.as_object().contains("events") &&
             !body.as_object().contains("eventType")) {
    const auto& list = body.as_object().at("events");
    if (!list.is_array()) {
      return respond(net::error_response(http::status::bad_request, "invalid_body",
                                         "\"events\" must be an array of events"));
    }
    events.assign(list.as_array().begin(), list.as_array().end());
  } else if (body.is_object()) {
    events.push_back(std::move(body));
  } else {
    return respond(net::error_response(http::status::bad_request, "invalid_body",
                                       "the body must be an event, an array of events or "
                                       "{\"events\": [...]}"));
  }
  if (events.empty()) {
    return respond(net::error_response(http::status::bad_request, "invalid_body",
                                       "the request holds no events"));
  }
  // Bounds what one request makes the server answer: one result per event.
  if (events.size() > kMaxEventsPerRequest) {
    return respond(net::error_response(
        http::status::payload_too_large, event_error::kTooManyEvents,
        fmt::format("the request holds {} events; at most {} are taken per request; nothing "
                    "was stored",
                    events.size(), kMaxEventsPerRequest)));
  }
  for (size_t i = 0; i < events.size(); ++i) {
    if (!events[i].is_object()) {
      return respond(net::error_response(
          http::status::bad_request, "invalid_body",
          fmt::format("element {} is not an event (a JSON object); nothing was stored", i)));
    }
  }
  // An oversized event refuses the whole request, so nothing is half-stored.
  for (size_t i = 0; i < events.size(); ++i) {
    const size_t size = boost::json::serialize(events[i]).size();
    if (size > kMaxEventBytes) {
      return respond(net::error_response(
          http::status::payload_too_large, "event_too_large",
          fmt::format("event {} is {} bytes; an event may be at most {} bytes; nothing was stored",
                      i, size, kMaxEventBytes)));
    }
  }
  // Blocking route: wait here (on the blocking pool) for the commit.
  std::promise<std::vector<EventOutcome>> promise;
  auto future = promise.get_future();
  service.ingest(
      events, Transport::kHttp,
      [&promise](std::vector<EventOutcome> outcomes) { promise.set_value(std::move(outcomes)); },
      service.rate_key(key));
  const std::vector<EventOutcome> outcomes = future.get();
  size_t ok = 0, duplicates = 0, rejected = 0, unavailable = 0;
  std::optional<Millis> rate_limited;  // the longest wait asked
  boost::json::array results;
  results.reserve(outcomes.size());
  std::vector<std::string_view> explained;  // codes whose message was already given once
  for (const auto& o : outcomes) {
    switch (o.status) {
      case EventStatus::kOk:
        ++ok;
        break;
      case EventStatus::kDuplicate:
        ++duplicates;
        break;
      case EventStatus::kRejected:
        ++rejected;
        break;
      case EventStatus::kUnavailable:
        ++unavailable;
        if (o.retry_after)
          rate_limited = std::max(rate_limited.value_or(Millis(0)), *o.retry_after);
        break;
    }
    boost::json::object item = o.to_json();
    if (o.status == EventStatus::kRejected || o.status == EventStatus::kUnavailable) {
      // A message is said once per code, so the answer stays proportional to the request.
      if (std::find(explained.begin(), explained.end(), o.code) != explained.end()) {
        item.erase("message");
      } else {
        explained.push_back(o.code);
      }
    }
    results.push_back(std::move(item));
  }
  boost::json::object answer{{"accepted", ok},
                             {"duplicates", duplicates},
                             {"rejected", rejected},
                             {"results", std::move(results)}};
  http::status status = http::status::ok;
  if (rate_limited) {
    status = http::status::too_many_requests;
  } else if (unavailable > 0) {
    status = http::status::service_unavailable;
  } else if (rejected == outcomes.size()) {
    status = http::status::bad_request;
  }
  net::Response res = net::json_response(status, answer);
  if (rate_limited) {
    res.set(http::field::retry_after, std::to_string((rate_limited->count() + 999) / 1000));
  } else if (unavailable > 0) {
    res.set(http::field::retry_after, "1");
  }
  return respond(std::move(res));
}

}  // namespace

void add_ingest_routes(net::Router& router, IngestService& service,
                       const HttpIngestOptions& options) {
  router.add(http::verb::post, "/api/events", net::RouteKind::kBlocking,
             [&service, options](const net::Request& req, const net::PathParams&) {
               return handle(req, service, options);
             });
  router.add(http::verb::options, "/api/events", net::RouteKind::kInline,
             [options](const net::Request& req, const net::PathParams&) {
               net::Response res{http::status::no_content, req.version()};
               add_cors(res, req, options);
               res.set(http::field::access_control_allow_methods, "POST, OPTIONS");
               res.set(http::field::access_control_allow_headers,
                       "Content-Type, Authorization, X-Write-Key");
               res.set(http::field::access_control_max_age, "600");
               return res;
             });
}

}  // namespace insightd::ingest
