#include "api/dashboard.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "api/web_assets.h"

namespace insightd::api {
namespace {

namespace http = net::http;

constexpr std::string_view kAssetsPrefix = "/admin/assets";
constexpr std::string_view kLoginPath = "/admin/login";
constexpr std::string_view kDashboardPath = "/admin/analytics";

// Headers every dashboard answer carries.
net::Response hardened(net::Response res) {
  res.set("Content-Security-Policy", kDashboardCsp);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "same-origin");
  return res;
}

net::Response redirect(std::string_view location) {
  net::Response res{http::status::see_other, 11};
  res.set(http::field::location, location);
  res.set(http::field::cache_control, "no-store");
  return hardened(std::move(res));
}

net::Response not_found() {
  return hardened(
      net::error_response(http::status::not_found, "not_found", "no such dashboard file"));
}

// A file, or 404 when the build lacks it.
net::Response serve(const net::StaticFiles& files, const net::Request& req, std::string_view name,
                    std::string_view cache_control) {
  auto file = files.find(name);
  if (!file) return not_found();
  return hardened(net::file_response(req, *file, cache_control));
}

}  // namespace

net::StaticFiles dashboard_files(const std::optional<std::filesystem::path>& web_dir) {
  net::StaticFiles files =
      web_dir ? net::StaticFiles::from_directory(*web_dir) : net::StaticFiles();
  for (const EmbeddedFile& f : web_assets()) files.add(std::string(f.name), std::string(f.bytes));
  return files;
}

void add_dashboard_routes(net::Router& router, auth::AuthService& auth, net::StaticFiles files) {
  auto shared = std::make_shared<const net::StaticFiles>(std::move(files));
  for (std::string_view path : {"/admin", "/admin/"}) {
    router.add(
        http::verb::get, path, net::RouteKind::kInline,
        [](const net::Request&, const net::PathParams&) { return redirect(kDashboardPath); });
  }
  // Reads the session from the database: blocking.
  router.add(http::verb::get, kDashboardPath, net::RouteKind::kBlocking,
             [&auth, shared](const net::Request& req, const net::PathParams&) {
               auto who = auth.authenticate(req);
               if (!who) {
                 spdlog::warn("[Dashboard] Cannot check the session: {}", who.error().message);
                 return hardened(net::error_response(who.error()));
               }
               if (!*who) return redirect("/admin/login?next=%2Fadmin%2Fanalytics");
               // The page itself holds no data, but it is for admins only: private.
               return serve(*shared, req, "index.html", "private, no-cache");
             });
  router.add(http::verb::get, kLoginPath, net::RouteKind::kBlocking,
             [shared](const net::Request& req, const net::PathParams&) {
               return serve(*shared, req, "login.html", "no-cache");
             });
  // Files read from WEB_DIR touch the disk: off the network threads then.
  router.add_prefix(http::verb::get, kAssetsPrefix, net::RouteKind::kBlocking,
                    [shared](const net::Request& req, const net::PathParams&) {
                      std::string_view target = req.target();
                      target.remove_prefix(kAssetsPrefix.size());
                      if (const size_t q = target.find('?'); q != std::string_view::npos) {
                        target = target.substr(0, q);
                      }
                      if (!target.starts_with('/')) return not_found();
                      target.remove_prefix(1);
                      return serve(*shared, req, target, "no-cache");
                    });
}

}  // namespace insightd::api
