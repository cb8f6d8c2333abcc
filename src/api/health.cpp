#include "api/health.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "store/migrations.h"

namespace insightd::api {

void add_health_routes(net::Router& router, store::Store& store, store::ConnectionPool& pool) {
  router.add(net::http::verb::get, "/healthz", net::RouteKind::kInline,
             [](const net::Request&, const net::PathParams&) {
               return net::json_response(net::http::status::ok, {{"status", "ok"}});
             });
  // Touches the database, so it runs on the blocking pool.
  router.add(
      net::http::verb::get, "/readyz", net::RouteKind::kBlocking,
      [&store, &pool](const net::Request&, const net::PathParams&) {
        if (Status s = store.ping(); !s) {
          return net::error_response(net::http::status::service_unavailable, "not_ready",
                                     "database unavailable: " + s.message());
        }
        auto status = store::migration_status(pool);
        if (!status) {
          return net::error_response(net::http::status::service_unavailable, "not_ready",
                                     "cannot read migrations: " + status.error().message);
        }
        if (!status->current()) {
          return net::error_response(net::http::status::service_unavailable, "not_ready",
                                     fmt::format("{} migration(s) pending: run `insightd migrate`",
                                                 status->pending.size()));
        }
        return net::json_response(net::http::status::ok,
                                  {{"status", "ready"},
                                   {"database", store.backend()},
                                   {"migrations", static_cast<int64_t>(status->applied.size())}});
      });
}

}  // namespace insightd::api
