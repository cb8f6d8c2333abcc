// The HTTP face of Google sign-in (auth/oidc.h):
//
//   GET /api/auth/providers               {"password":true,"google":bool}, for the login page
//   GET /api/auth/google?next=/admin/...  302 to the provider's authorization endpoint
//   GET /api/auth/google/callback         the provider's answer: a session, then on to `next`
//
// Between the two Google routes the flow (state, nonce, PKCE verifier, next) is
// kept in the browser, in a cookie MAC'd with a key derived from AUTH_SECRET:
// nothing to store or clean up, any node sharing the secret can finish the
// flow, and the callback only works in the browser that started it (which is
// what state is for). The cookie is SameSite=Lax, since the provider's
// redirect back is a cross-site navigation that would not carry a Strict one,
// lives 10 minutes, and is cleared by the callback.
//
// The callback answers with a small page that moves on to `next` itself rather
// than a 302: after a cross-site redirect chain browsers withhold the
// SameSite=Strict session cookie, so a 302 would reach the dashboard signed out.
#pragma once

#include <string_view>

#include "auth/auth_service.h"
#include "auth/oidc.h"
#include "net/router.h"

namespace insightd::auth {

inline constexpr std::string_view kOidcFlowCookie = "insightd_oidc";
inline constexpr std::string_view kGoogleCallbackPath = "/api/auth/google/callback";
inline constexpr std::string_view kDefaultNextPath = "/admin/analytics";

// Registers the routes above; with `google` null (Google sign-in off) only
// /api/auth/providers, so the other two are 404. `auth` and `google` must
// outlive the router.
void add_oidc_routes(net::Router& router, AuthService& auth, OidcClient* google);

}  // namespace insightd::auth
