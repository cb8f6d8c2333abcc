#include "net/router.h"

#include <algorithm>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/url/decode_view.hpp>
#include <boost/url/grammar/error.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <cassert>
#include <cctype>
#include <future>
#include <mutex>
#include <optional>

namespace insightd::net {
namespace {

namespace urls = boost::urls;

// The request path's raw segments; 8 covers every route we serve without allocating.
using PathSegments = boost::container::small_vector<urls::pct_string_view, 8>;

// Splits a registered pattern the way Boost.URL splits a request path: "/" has no
// segments, "/a/" has "a" and "".
std::vector<std::string_view> split_pattern(std::string_view pattern) {
  assert(!pattern.empty() && pattern.front() == '/' && "route patterns are absolute paths");
  std::vector<std::string_view> parts;
  pattern.remove_prefix(1);
  if (pattern.empty()) return parts;
  for (;;) {
    auto slash = pattern.find('/');
    parts.push_back(pattern.substr(0, slash));
    if (slash == std::string_view::npos) break;
    pattern.remove_prefix(slash + 1);
  }
  return parts;
}

bool segment_equals(urls::pct_string_view raw, std::string_view literal) {
  // Most paths carry no escapes; compare them without decoding.
  if (raw.decoded_size() == raw.size()) return std::string_view(raw.data(), raw.size()) == literal;
  return *raw == literal;
}

std::string_view path_for_message(const urls::url_view& url) {
  std::string_view path(url.encoded_path().data(), url.encoded_path().size());
  constexpr size_t kMax = 200;
  return path.substr(0, kMax);
}

// A request target: origin-form ("/a?b") or absolute-form ("http://host/a?b").
// Boost.URL 1.81's parse_absolute_uri asserts (in Debug builds) on a URI whose
// path is empty and followed by more text, with no authority ("x:?", "x:#"):
// such a target is refused before it gets there (found by fuzz_router).
urls::result<urls::url_view> parse_target(std::string_view target) {
  if (!target.empty() && target.front() == '/') return urls::parse_origin_form(target);
  constexpr std::string_view kPathStart = "/%-._~!$&'()*+,;=:@";
  const size_t colon = target.find(':');
  if (colon != std::string_view::npos && colon + 1 < target.size()) {
    const char c = target[colon + 1];
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        kPathStart.find(c) == std::string_view::npos) {
      return urls::grammar::error::mismatch;
    }
  }
  return urls::parse_absolute_uri(target);
}

// Splits a prefix into literal segments; "/api/socket/" claims what "/api/socket" does.
std::vector<std::string> prefix_segments(std::string_view prefix) {
  std::vector<std::string> segments;
  for (std::string_view part : split_pattern(prefix)) segments.emplace_back(part);
  while (!segments.empty() && segments.back().empty()) segments.pop_back();
  return segments;
}

// Router::dispatch's way to wait for a deferred answer on the calling thread.
class WaitingSink final : public Responder::Sink {
 public:
  void send(Response res) override {
    std::lock_guard lock(mu_);
    if (sent_) return;
    sent_ = true;
    promise_.set_value(std::move(res));
  }
  void on_abandoned(std::function<void()> /*fn*/) override {}  // the caller never leaves
  std::future<Response> answer() { return promise_.get_future(); }

 private:
  std::mutex mu_;
  bool sent_ = false;
  std::promise<Response> promise_;
};

}  // namespace

std::string_view PathParams::get(std::string_view name) const {
  for (const auto& [key, value] : values_) {
    if (key == name) return value;
  }
  return {};
}

void Router::add(http::verb method, std::string_view pattern, RouteKind kind, Handler handler) {
  assert(kind != RouteKind::kDeferred && "deferred routes are registered with add_prefix");
  Route route{method, {}, false, kind, std::move(handler), {}};
  for (std::string_view part : split_pattern(pattern)) {
    bool is_param = part.size() > 2 && part.front() == '{' && part.back() == '}';
    if (is_param) part = part.substr(1, part.size() - 2);
    assert(part.find_first_of("{}") == std::string_view::npos && "a parameter is a whole segment");
    route.segments.push_back({std::string(part), is_param});
  }
  insert(std::move(route));
}

void Router::add_prefix(http::verb method, std::string_view prefix, RouteKind kind,
                        Handler handler) {
  assert(kind != RouteKind::kDeferred && "deferred routes take a DeferredHandler");
  Route route{method, {}, true, kind, std::move(handler), {}};
  for (std::string& part : prefix_segments(prefix)) route.segments.push_back({part, false});
  insert(std::move(route));
}

void Router::add_prefix(http::verb method, std::string_view prefix, DeferredHandler handler) {
  Route route{method, {}, true, RouteKind::kDeferred, {}, std::move(handler)};
  for (std::string& part : prefix_segments(prefix)) route.segments.push_back({part, false});
  insert(std::move(route));
}

void Router::add_upgrade_prefix(std::string_view prefix, UpgradeHandler handler) {
  UpgradeRoute route{prefix_segments(prefix), std::move(handler)};
  auto longer = [](const UpgradeRoute& a, const UpgradeRoute& b) {
    return a.segments.size() > b.segments.size();
  };
  upgrades_.insert(std::upper_bound(upgrades_.begin(), upgrades_.end(), route, longer),
                   std::move(route));
}

const UpgradeHandler* Router::resolve_upgrade(const Request& req) const {
  if (upgrades_.empty() || !boost::beast::websocket::is_upgrade(req)) return nullptr;
  auto target = req.target();
  auto parsed = parse_target(target);
  if (!parsed) return nullptr;
  auto encoded = parsed->encoded_segments();
  PathSegments segments(encoded.begin(), encoded.end());
  for (const UpgradeRoute& route : upgrades_) {
    if (segments.size() < route.segments.size()) continue;
    bool match = true;
    for (size_t i = 0; i < route.segments.size() && match; ++i) {
      match = segment_equals(segments[i], route.segments[i]);
    }
    if (match) return &route.handler;
  }
  return nullptr;
}

void Router::insert(Route route) {
  auto rank = [](const Route& r) {
    if (r.is_prefix) return 2;
    bool has_param = std::any_of(r.segments.begin(), r.segments.end(),
                                 [](const Segment& s) { return s.is_param; });
    return has_param ? 1 : 0;
  };
  auto precedes = [&](const Route& a, const Route& b) {
    int ra = rank(a), rb = rank(b);
    if (ra != rb) return ra < rb;
    if (ra == 2) return a.segments.size() > b.segments.size();
    if (ra == 1) {
      size_t n = std::min(a.segments.size(), b.segments.size());
      for (size_t i = 0; i < n; ++i) {
        if (a.segments[i].is_param != b.segments[i].is_param) return !a.segments[i].is_param;
      }
    }
    return false;
  };
#ifndef NDEBUG
  for (const Route& r : routes_) {
    bool same_shape =
        r.method == route.method && r.is_prefix == route.is_prefix &&
        std::equal(r.segments.begin(), r.segments.end(), route.segments.begin(),
                   route.segments.end(), [](const Segment& x, const Segment& y) {
                     return x.is_param == y.is_param && (x.is_param || x.text == y.text);
                   });
    assert(!same_shape && "route registered twice");
  }
#endif
  route.id = routes_.size();
  // After every route it does not precede, so equals keep registration order.
  auto pos = std::upper_bound(routes_.begin(), routes_.end(), route, precedes);
  routes_.insert(pos, std::move(route));
}

std::variant<RouteMatch, Response> Router::resolve(const Request& req) const {
  auto target = req.target();
  auto parsed = parse_target(target);
  if (!parsed) {
    return error_response(http::status::bad_request, "bad_request", "invalid request target");
  }
  const urls::url_view& url = *parsed;
  auto encoded = url.encoded_segments();
  PathSegments segments(encoded.begin(), encoded.end());

  auto path_matches = [&](const Route& route) {
    size_t n = route.segments.size();
    if (route.is_prefix ? segments.size() < n : segments.size() != n) return false;
    for (size_t i = 0; i < n; ++i) {
      const Segment& s = route.segments[i];
      if (s.is_param ? segments[i].empty() : !segment_equals(segments[i], s.text)) return false;
    }
    return true;
  };
  auto find = [&](http::verb method) -> const Route* {
    for (const Route& route : routes_) {
      if (route.method == method && path_matches(route)) return &route;
    }
    return nullptr;
  };

  const Route* route = find(req.method());
  if (route == nullptr && req.method() == http::verb::head) route = find(http::verb::get);
  if (route != nullptr) {
    std::vector<std::pair<std::string, std::string>> values;
    for (size_t i = 0; i < route->segments.size(); ++i) {
      if (route->segments[i].is_param) {
        values.emplace_back(route->segments[i].text, segments[i].decode());
      }
    }
    return RouteMatch(&route->handler, &route->deferred, route->kind, PathParams(std::move(values)),
                      route->id);
  }

  std::vector<std::string_view> allowed;
  for (const Route& r : routes_) {
    if (!path_matches(r)) continue;
    allowed.push_back(http::to_string(r.method));
    if (r.method == http::verb::get) allowed.push_back(http::to_string(http::verb::head));
  }
  std::string path(path_for_message(url));
  if (allowed.empty()) {
    return error_response(http::status::not_found, "not_found", "no route for " + path);
  }
  std::sort(allowed.begin(), allowed.end());
  allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
  std::string allow;
  for (std::string_view method : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += method;
  }
  Response res = error_response(http::status::method_not_allowed, "method_not_allowed",
                                std::string(req.method_string()) + " is not allowed on " + path);
  res.set(http::field::allow, allow);
  return res;
}

std::vector<Router::RouteInfo> Router::routes() const {
  std::vector<RouteInfo> out(routes_.size());
  for (const Route& r : routes_) {
    std::string pattern;
    for (const Segment& s : r.segments) {
      pattern += '/';
      pattern += s.is_param ? "{" + s.text + "}" : s.text;
    }
    if (r.is_prefix) pattern += "/*";
    if (pattern.empty()) pattern = "/";
    out[r.id] = RouteInfo{r.id, r.method, std::move(pattern)};
  }
  return out;
}

Response Router::dispatch(const Request& req) const {
  auto resolved = resolve(req);
  if (auto* match = std::get_if<RouteMatch>(&resolved)) {
    if (match->kind() != RouteKind::kDeferred) return match->run(req);
    auto sink = std::make_shared<WaitingSink>();
    auto answer = sink->answer();
    match->run_deferred(req, Responder(sink));
    return answer.get();
  }
  return std::move(std::get<Response>(resolved));
}

}  // namespace insightd::net
