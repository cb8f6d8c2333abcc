// The HTTP face of sign-in, and the gate every admin route goes through.
//
//   POST   /api/auth/login          {"id","password"} → 200 + session cookie, csrfToken
//   POST   /api/auth/logout         ends the session, clears the cookie
//   GET    /api/auth/session        who is signed in (+ csrfToken), 401 otherwise
//   GET    /api/admin/tokens        API tokens (never the tokens themselves)
//   POST   /api/admin/tokens        {"name"} → 201 with the token, shown once
//   DELETE /api/admin/tokens/{id}   revokes
//
// Every route here touches the database, so all are RouteKind::kBlocking.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "auth/auth_service.h"
#include "net/router.h"

namespace insightd::auth {

// A handler that runs only for a signed-in admin, and is told who that is.
using AdminHandler =
    std::function<net::Response(const net::Request&, const net::PathParams&, const Principal&)>;

// Wraps `handler` in the admin gate: anonymous requests get 401 "unauthorized",
// cookie-authenticated state changes without the session's X-CSRF-Token get 403
// "csrf", a database that cannot answer gives 503. Register the result as
// RouteKind::kBlocking (the gate reads the database). `auth` must outlive it.
net::Handler require_admin(AuthService& auth, AdminHandler handler);

// router.add(method, pattern, kBlocking, require_admin(auth, handler)).
void add_admin_route(net::Router& router, AuthService& auth, net::http::verb method,
                     std::string_view pattern, AdminHandler handler);

// The Set-Cookie value of a session cookie (HttpOnly, SameSite=Strict, Path=/,
// Secure when asked); an empty value with max age 0 clears it.
std::string session_cookie_header(std::string_view value, int64_t max_age_s, bool secure);

// Registers the sign-in and token routes above. `auth` must outlive the router.
void add_auth_routes(net::Router& router, AuthService& auth);

}  // namespace insightd::auth
