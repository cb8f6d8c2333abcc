#include "auth/auth_routes.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>

namespace insightd::auth {
namespace {

namespace http = net::http;
namespace json = boost::json;

// Nothing about sign-in may be kept by a cache.
net::Response no_store(net::Response res) {
  res.set(http::field::cache_control, "no-store");
  return res;
}

net::Response unauthorized() {
  return no_store(net::error_response(http::status::unauthorized, "unauthorized", "sign in first"));
}

net::Response database_error(const Error& e) {
  spdlog::error("[Auth] {}", e.message);
  return net::error_response(e);
}

bool is_json(const net::Request& req) {
  std::string_view type = req[http::field::content_type];
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return boost::beast::iequals(type, "application/json");
}

// The body as a JSON object; nullopt (and `error` set) when it is not one.
std::optional<json::object> json_body(const net::Request& req, net::Response& error) {
  // Only JSON is accepted, so that a cross-site HTML form (which cannot send it
  // without a CORS preflight) cannot post here.
  if (!is_json(req)) {
    error = net::error_response(http::status::unsupported_media_type, "unsupported_media_type",
                                "send the body as application/json");
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = json::parse(req.body(), ec);
  if (ec || !v.is_object()) {
    error = net::error_response(http::status::bad_request, "invalid_json",
                                "the body must be a JSON object");
    return std::nullopt;
  }
  return std::move(v.as_object());
}

std::optional<std::string_view> string_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string_view(v->as_string());
}

json::value time_or_null(const std::optional<Timestamp>& t) {
  return t ? json::value(format_timestamp(*t)) : json::value(nullptr);
}

json::object token_json(const ApiTokenInfo& t) {
  return json::object{{"id", t.token_id},
                      {"name", t.name},
                      {"createdBy", t.created_by},
                      {"createdAt", format_timestamp(t.created_at)},
                      {"lastUsedAt", time_or_null(t.last_used_at)}};
}

net::Response login(AuthService& auth, const net::Request& req) {
  net::Response error;
  auto body = json_body(req, error);
  if (!body) return error;
  auto id = string_field(*body, "id");
  auto password = string_field(*body, "password");
  if (!id || !password) {
    return net::error_response(http::status::bad_request, "invalid_argument",
                               "id and password are required strings");
  }
  std::string_view client = net::peer_address(req);
  if (client.empty()) client = "unknown";
  auto outcome = auth.login(*id, *password, client);
  if (!outcome) return database_error(outcome.error());
  switch (outcome->kind) {
    case LoginOutcome::Kind::kRateLimited: {
      const int64_t seconds = retry_after_seconds(outcome->retry_after);
      spdlog::warn("[Auth] Sign-in refused for {}: too many failed attempts", client);
      net::Response res = net::error_response(
          http::status::too_many_requests, "rate_limited",
          fmt::format("too many failed sign-in attempts; retry in {} s", seconds));
      res.set(http::field::retry_after, std::to_string(seconds));
      return no_store(std::move(res));
    }
    case LoginOutcome::Kind::kInvalidCredentials:
      spdlog::warn("[Auth] Failed sign-in from {}", client);
      return no_store(net::error_response(http::status::unauthorized, "invalid_credentials",
                                          "wrong id or password"));
    case LoginOutcome::Kind::kSignedIn:
      break;
  }
  const SignedIn& in = *outcome->session;
  spdlog::info("[Auth] '{}' signed in from {}", auth.options().admin_id, client);
  net::Response res =
      net::json_response(http::status::ok, {{"ok", true},
                                            {"id", auth.options().admin_id},
                                            {"csrfToken", in.csrf_token},
                                            {"expiresAt", format_timestamp(in.expires_at)}});
  const auto max_age =
      std::chrono::duration_cast<std::chrono::seconds>(auth.options().session_absolute).count();
  res.set(http::field::set_cookie,
          session_cookie_header(in.session_token, max_age, auth.secure_cookie_for(req)));
  return no_store(std::move(res));
}

net::Response logout(AuthService& auth, const net::Request& req) {
  auto who = auth.authenticate(req);
  if (!who) return database_error(who.error());
  if (*who && (*who)->method == Principal::Method::kSession) {
    if (!AuthService::csrf_ok(req, **who)) {
      return net::error_response(http::status::forbidden, "csrf",
                                 "missing or wrong X-CSRF-Token header");
    }
    if (Status s = auth.logout(find_cookie(req, kSessionCookie).value_or("")); !s) {
      return database_error(s.error());
    }
    spdlog::info("[Auth] '{}' signed out", (*who)->admin_id);
  }
  // Without a valid session there is nothing to end; the cookie goes either way.
  net::Response res = net::json_response(http::status::ok, {{"ok", true}});
  res.set(http::field::set_cookie, session_cookie_header("", 0, auth.secure_cookie_for(req)));
  return no_store(std::move(res));
}

net::Response session(AuthService& auth, const net::Request& req) {
  auto who = auth.authenticate(req);
  if (!who) return database_error(who.error());
  if (!*who) return unauthorized();
  const Principal& p = **who;
  json::object out{{"id", p.admin_id}};
  if (p.method == Principal::Method::kSession) {
    out["method"] = "session";
    out["csrfToken"] = p.csrf_token;
    out["expiresAt"] = time_or_null(p.expires_at);
  } else {
    out["method"] = "token";
    out["tokenId"] = p.token_id;
  }
  return no_store(net::json_response(http::status::ok, out));
}

}  // namespace

std::string session_cookie_header(std::string_view value, int64_t max_age_s, bool secure) {
  return fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}", kSessionCookie,
                     value, max_age_s, secure ? "; Secure" : "");
}

net::Handler require_admin(AuthService& auth, AdminHandler handler) {
  return [&auth, handler = std::move(handler)](const net::Request& req,
                                               const net::PathParams& params) {
    auto who = auth.authenticate(req);
    if (!who) return database_error(who.error());
    if (!*who) return unauthorized();
    if (!AuthService::csrf_ok(req, **who)) {
      return net::error_response(http::status::forbidden, "csrf",
                                 "missing or wrong X-CSRF-Token header");
    }
    return handler(req, params, **who);
  };
}

void add_admin_route(net::Router& router, AuthService& auth, http::verb method,
                     std::string_view pattern, AdminHandler handler) {
  router.add(method, pattern, net::RouteKind::kBlocking, require_admin(auth, std::move(handler)));
}

void add_auth_routes(net::Router& router, AuthService& auth) {
  router.add(http::verb::post, "/api/auth/login", net::RouteKind::kBlocking,
             [&auth](const net::Request& req, const net::PathParams&) { return login(auth, req); });
  router.add(
      http::verb::post, "/api/auth/logout", net::RouteKind::kBlocking,
      [&auth](const net::Request& req, const net::PathParams&) { return logout(auth, req); });
  router.add(
      http::verb::get, "/api/auth/session", net::RouteKind::kBlocking,
      [&auth](const net::Request& req, const net::PathParams&) { return session(auth, req); });

  add_admin_route(router, auth, http::verb::get, "/api/admin/tokens",
                  [&auth](const net::Request&, const net::PathParams&, const Principal&) {
                    auto tokens = auth.api_tokens();
                    if (!tokens) return database_error(tokens.error());
                    json::array out;
                    for (const ApiTokenInfo& t : *tokens) out.push_back(token_json(t));
                    return net::json_response(http::status::ok, {{"tokens", std::move(out)}});
                  });
  add_admin_route(router, auth, http::verb::post, "/api/admin/tokens",
                  [&auth](const net::Request& req, const net::PathParams&, const Principal& who) {
                    net::Response error;
                    auto body = json_body(req, error);
                    if (!body) return error;
                    auto name = string_field(*body, "name");
                    if (!name) {
                      return net::error_response(http::status::bad_request, "invalid_argument",
                                                 "name is a required string");
                    }
                    auto created = auth.create_api_token(*name, who);
                    if (!created) {
                      if (created.code() == ErrorCode::kInvalidArgument)
                        return net::error_response(created.error());
                      return database_error(created.error());
                    }
                    spdlog::info("[Auth] '{}' created API token {} ({})", who.admin_id,
                                 created->info.token_id, created->info.name);
                    json::object out = token_json(created->info);
                    out["token"] = created->token;
                    return no_store(net::json_response(http::status::created, out));
                  });
  add_admin_route(
      router, auth, http::verb::delete_, "/api/admin/tokens/{id}",
      [&auth](const net::Request&, const net::PathParams& params, const Principal& who) {
        const std::string_view id = params.get("id");
        auto revoked = auth.revoke_api_token(id);
        if (!revoked) return database_error(revoked.error());
        if (!*revoked) {
          return net::error_response(http::status::not_found, "not_found", "no such token");
        }
        spdlog::info("[Auth] '{}' revoked API token {}", who.admin_id, id);
        return net::json_response(http::status::ok, {{"ok", true}, {"id", id}});
      });
}

}  // namespace insightd::auth
