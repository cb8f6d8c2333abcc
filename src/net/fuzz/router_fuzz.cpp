// libFuzzer target for the Router: a request line and headers ("METHOD TARGET\n"
// then "Name: value" lines) resolved against a set of routes like insightd's
// (exact paths, {id} parameters, prefixes, a deferred prefix, an upgrade prefix).
// Checks: a match is only for an origin-form ('/') or absolute-form (scheme:)
// target, has the registered method (or GET for HEAD), and its pattern matches the
// decoded path with non-empty parameters; anything else is 400, 404 or 405, and
// a 405's Allow never lists the method asked for; an upgrade handler is only
// for a GET under /api/socket.
#include <algorithm>
#include <boost/url/parse.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/router.h"

using namespace insightd::net;

namespace {

const Router& router() {
  static const Router* r = [] {
    auto* r = new Router;
    auto ok = [](const Request&, const PathParams&) { return Response{http::status::ok, 11}; };
    using http::verb;
    r->add(verb::get, "/", RouteKind::kInline, ok);
    r->add(verb::get, "/healthz", RouteKind::kInline, ok);
    r->add(verb::get, "/readyz", RouteKind::kBlocking, ok);
    r->add(verb::post, "/api/events", RouteKind::kBlocking, ok);
    r->add(verb::post, "/api/auth/login", RouteKind::kBlocking, ok);
    r->add(verb::get, "/api/admin/batches", RouteKind::kBlocking, ok);
    r->add(verb::get, "/api/admin/batches/open", RouteKind::kBlocking, ok);
    r->add(verb::get, "/api/admin/batches/{id}", RouteKind::kBlocking, ok);
    r->add(verb::post, "/api/admin/batches/{id}/analyze", RouteKind::kBlocking, ok);
    r->add(verb::delete_, "/api/admin/dlq/{id}", RouteKind::kBlocking, ok);
    r->add(verb::post, "/api/admin/{kind}/{id}/retry", RouteKind::kBlocking, ok);
    r->add_prefix(verb::get, "/admin/analytics/assets/", RouteKind::kBlocking, ok);
    r->add_prefix(verb::get, "/api/socket", [](Request, const PathParams&, Responder) {});
    r->add_prefix(verb::post, "/api/socket/", [](Request, const PathParams&, Responder) {});
    r->add_upgrade_prefix("/api/socket", [](UpgradeRequest&) {});
    return r;
  }();
  return *r;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (size_t at; (at = s.find(sep)) != std::string_view::npos; s.remove_prefix(at + 1)) {
    parts.push_back(s.substr(0, at));
  }
  parts.push_back(s);
  return parts;
}

// Whether the decoded path segments fit `pattern` ("/a/{id}", "/a/*" for a prefix).
bool fits(const std::vector<std::string>& path, std::string_view pattern, const PathParams& p) {
  auto want = split(pattern.substr(1), '/');
  if (want.size() == 1 && want[0].empty()) want.clear();
  const bool prefix = !want.empty() && want.back() == "*";
  if (prefix) want.pop_back();
  if (prefix ? path.size() < want.size() : path.size() != want.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i].starts_with('{')) {
      const auto value = p.get(want[i].substr(1, want[i].size() - 2));
      if (value.empty() || value != path[i]) return false;
    } else if (want[i] != path[i]) {
      return false;
    }
  }
  return true;
}

// RFC 3986 scheme ":" at the start: what an absolute-form target begins with.
bool has_scheme(std::string_view t) {
  const size_t colon = t.find(':');
  if (colon == 0 || colon == std::string_view::npos || !std::isalpha(uint8_t(t[0]))) return false;
  return std::all_of(t.begin(), t.begin() + colon, [](char c) {
    return std::isalnum(uint8_t(c)) || c == '+' || c == '-' || c == '.';
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto lines = split(input, '\n');
  const size_t space = lines[0].find(' ');
  if (space == std::string_view::npos) return 0;
  Request req;
  req.method_string(lines[0].substr(0, space));
  req.target(lines[0].substr(space + 1));
  req.version(11);
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == 0 || colon == std::string_view::npos || lines[i].size() > 8192) continue;
    req.insert(lines[i].substr(0, colon), lines[i].substr(colon + 1));
  }
  const std::string_view target = req.target();
  // The decoded path, parsed here only once the router has accepted the target.
  auto path_of = [&] {
    auto url = target.starts_with('/') ? boost::urls::parse_origin_form(target)
                                       : boost::urls::parse_absolute_uri(target);
    if (!url) __builtin_trap();
    std::vector<std::string> path;
    for (const auto& segment : url->segments()) path.push_back(segment);
    return path;
  };

  auto resolved = router().resolve(req);
  if (const auto* match = std::get_if<RouteMatch>(&resolved)) {
    if (!target.starts_with('/') && !has_scheme(target)) __builtin_trap();
    const auto routes = router().routes();
    if (match->route_id() >= routes.size()) __builtin_trap();
    const auto& route = routes[match->route_id()];
    if (route.method != req.method() &&
        !(req.method() == http::verb::head && route.method == http::verb::get)) {
      __builtin_trap();
    }
    if (!fits(path_of(), route.pattern, match->params())) __builtin_trap();
  } else {
    const Response& res = std::get<Response>(resolved);
    const unsigned status = res.result_int();
    if (status != 400 && status != 404 && status != 405) __builtin_trap();
    if (status == 405) {
      const std::string_view allow = res[http::field::allow];
      if (allow.empty()) __builtin_trap();
      for (std::string_view method : split(allow, ',')) {
        if (method.starts_with(' ')) method.remove_prefix(1);
        if (method == req.method_string()) __builtin_trap();
      }
    }
  }
  if (router().resolve_upgrade(req) != nullptr &&
      (req.method() != http::verb::get || !fits(path_of(), "/api/socket/*", {}))) {
    __builtin_trap();
  }
  return 0;
}
