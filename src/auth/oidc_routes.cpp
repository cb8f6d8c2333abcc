#include "auth/oidc_routes.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <map>

#include "auth/auth_routes.h"
#include "auth/tokens.h"

namespace insightd::auth {
namespace {

namespace http = net::http;

constexpr Millis kFlowLifetime = std::chrono::minutes(10);
constexpr std::string_view kFlowKeyPurpose = "insightd/oidc-flow-cookie/v1";
constexpr std::string_view kLoginPage = "/admin/login";

std::string param(const std::map<std::string, std::string>& q, const std::string& key) {
  auto it = q.find(key);
  return it == q.end() ? std::string() : it->second;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// What a provider says in `error=`, cut to something safe to log.
std::string printable(std::string_view s, size_t max = 64) {
  std::string out;
  for (char c : s.substr(0, max)) {
    out +=
        std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ? c : '?';
  }
  return out;
}

// Pages a browser lands on; nothing here may be cached, and the URL (which holds
// the code) goes nowhere in a Referer.
net::Response page(http::status status, std::string_view title, std::string_view body_html,
                   std::string_view head_extra = "") {
  net::Response res{status, 11};
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  res.body() = fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{}"
      "<title>{} · insightd</title></head>\n<body style=\"font-family:sans-serif;margin:3em\">"
      "<h1>{}</h1>\n{}\n</body></html>\n",
      head_extra, title, title, body_html);
  res.prepare_payload();
  return res;
}

net::Response refused(http::status status, std::string_view code, std::string_view message) {
  return page(status, "Sign-in failed",
              fmt::format("<p id=\"error\" data-code=\"{}\">{}</p>\n<p><a href=\"{}\">Back to "
                          "sign-in</a></p>",
                          code, html_escape(message), kLoginPage));
}

std::string flow_cookie(std::string_view value, int64_t max_age_s, bool secure) {
  // Path covers the callback only; Lax so the provider's redirect back carries it.
  return fmt::format("{}={}; Path=/api/auth/google; Max-Age={}; HttpOnly; SameSite=Lax{}",
                     kOidcFlowCookie, value, max_age_s, secure ? "; Secure" : "");
}

net::Response start(AuthService& auth, OidcClient& google, const net::Request& req) {
  const auto q = net::query_params(req);
  std::string next = param(q, "next");
  if (next.empty()) next = std::string(kDefaultNextPath);
  if (!is_local_path(next)) {
    return refused(http::status::bad_request, "invalid_next",
                   "next must be a path on this server, such as /admin/analytics.");
  }
  OidcFlow flow{.state = random_token(32),
                .nonce = random_token(32),
                .next = std::move(next),
                .expires_at = google.clock().now() + kFlowLifetime};
  Pkce pkce = new_pkce();
  flow.verifier = std::move(pkce.verifier);
  auto url = google.authorization_url(flow.state, flow.nonce, pkce.challenge);
  if (!url) {
    spdlog::error("[Auth] Google sign-in cannot start: {}", url.error().message);
    return refused(http::status::bad_gateway, "provider_unavailable",
                   "The sign-in provider cannot be reached; try again later.");
  }
  net::Response res{http::status::found, 11};
  res.set(http::field::location, *url);
  res.set(http::field::cache_control, "no-store");
  const auto max_age = std::chrono::duration_cast<std::chrono::seconds>(kFlowLifetime).count();
  res.set(http::field::set_cookie, flow_cookie(seal_flow(flow, auth.derive_key(kFlowKeyPurpose)),
                                               max_age, auth.secure_cookie_for(req)));
  return res;
}

net::Response callback(AuthService& auth, OidcClient& google, const net::Request& req) {
  const bool secure = auth.secure_cookie_for(req);
  // Whatever happens, this flow is over: its cookie goes.
  auto done = [&](net::Response res) {
    res.insert(http::field::set_cookie, flow_cookie("", 0, secure));
    return res;
  };
  std::string_view client = net::peer_address(req);
  if (client.empty()) client = "unknown";
  const auto q = net::query_params(req);
  if (auto error = param(q, "error"); !error.empty()) {
    spdlog::warn("[Auth] Google sign-in from {} refused by the provider: {}", client,
                 printable(error));
    return done(refused(http::status::forbidden, "provider_refused",
                        "The sign-in was cancelled or refused at the provider."));
  }
  auto sealed = find_cookie(req, kOidcFlowCookie);
  auto flow = sealed ? open_flow(*sealed, auth.derive_key(kFlowKeyPurpose), google.clock().now())
                     : std::nullopt;
  const std::string state = param(q, "state");
  if (!flow || state.empty() || !constant_time_equal(state, flow->state)) {
    spdlog::warn("[Auth] Google sign-in from {} refused: {}", client,
                 !sealed ? "no sign-in in progress in this browser (no flow cookie)"
                 : !flow ? "the flow cookie is forged or expired"
                         : "state does not match this browser's sign-in");
    return done(refused(http::status::bad_request, "invalid_state",
                        "This sign-in has expired or was started elsewhere; please start again."));
  }
  const std::string code = param(q, "code");
  if (code.empty()) {
    spdlog::warn("[Auth] Google sign-in from {} refused: the provider sent no code", client);
    return done(refused(http::status::bad_request, "invalid_request",
                        "The provider's answer carries no code; please start again."));
  }
  auto who = google.sign_in(code, flow->verifier, flow->nonce);
  if (!who) {
    if (who.code() == ErrorCode::kInvalidArgument) {
      spdlog::warn("[Auth] Google sign-in from {} refused: {}", client, who.error().message);
      return done(refused(http::status::forbidden, "sign_in_refused",
                          "This account may not sign in here."));
    }
    spdlog::error("[Auth] Google sign-in from {} failed: {}", client, who.error().message);
    return done(refused(http::status::bad_gateway, "provider_unavailable",
                        "The sign-in provider cannot be reached; try again later."));
  }
  auto session = auth.start_session(who->email);
  if (!session) {
    spdlog::error("[Auth] {}", session.error().message);
    return done(refused(http::status::service_unavailable, "unavailable",
                        "Sign-in is unavailable right now; try again later."));
  }
  spdlog::info("[Auth] '{}' signed in with Google from {}", who->email, client);
  const std::string next = html_escape(flow->next);
  net::Response res =
      page(http::status::ok, "Signed in",
           fmt::format("<p>Signed in as {}. <a id=\"next\" href=\"{}\">Continue</a></p>",
                       html_escape(who->email), next),
           fmt::format("<meta http-equiv=\"refresh\" content=\"0; url={}\">", next));
  const auto max_age =
      std::chrono::duration_cast<std::chrono::seconds>(auth.options().session_absolute).count();
  res.set(http::field::set_cookie, session_cookie_header(session->session_token, max_age, secure));
  return done(std::move(res));
}

}  // namespace

void add_oidc_routes(net::Router& router, AuthService& auth, OidcClient* google) {
  const bool enabled = google != nullptr;
  router.add(http::verb::get, "/api/auth/providers", net::RouteKind::kInline,
             [enabled](const net::Request&, const net::PathParams&) {
               net::Response res = net::json_response(
                   http::status::ok, boost::json::object{{"password", true}, {"google", enabled}});
               res.set(http::field::cache_control, "no-store");
               return res;
             });
  if (!enabled) return;
  // Both may wait on the provider (discovery, keys, the token endpoint).
  router.add(http::verb::get, "/api/auth/google", net::RouteKind::kBlocking,
             [&auth, google](const net::Request& req, const net::PathParams&) {
               return start(auth, *google, req);
             });
  router.add(http::verb::get, kGoogleCallbackPath, net::RouteKind::kBlocking,
             [&auth, google](const net::Request& req, const net::PathParams&) {
               return callback(auth, *google, req);
             });
}

}  // namespace insightd::auth
