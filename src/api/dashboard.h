// The admin dashboard (SPEC §11), served by the binary itself:
//
//   GET /admin, /admin/           303 → /admin/analytics
//   GET /admin/analytics          the dashboard for a signed-in admin; anyone
//                                 else is sent (303) to the login page
//   GET /admin/login              the login page
//   GET /admin/assets/<file>      scripts, styles and the libraries from npm
//
// Pages and files carry a strict Content-Security-Policy (only this origin;
// no inline scripts or styles) and an ETag; browsers revalidate (no-cache) and
// get 304 while the file is unchanged.
#pragma once

#include <filesystem>
#include <optional>

#include "auth/auth_service.h"
#include "net/router.h"
#include "net/static_files.h"

namespace insightd::api {

// What the dashboard's responses say about where content may come from.
inline constexpr std::string_view kDashboardCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

// The files built into the binary; with `web_dir` (WEB_DIR, for working on the
// dashboard) the files there are read on each request first.
net::StaticFiles dashboard_files(const std::optional<std::filesystem::path>& web_dir);

// Registers the routes above. `auth` must outlive the router.
void add_dashboard_routes(net::Router& router, auth::AuthService& auth, net::StaticFiles files);

}  // namespace insightd::api
