// The dashboard's routes through Router::dispatch with real sign-in on SQLite:
// who gets the page and who the login page, the files and their headers, and
// the live stream's tickets.
#include "api/dashboard.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>

#include "api/admin_live.h"
#include "api/web_assets.h"
#include "auth/auth_routes.h"
#include "core/testing/builders.h"
#include "store/testing/test_database.h"

namespace insightd::api {
namespace {

using namespace std::chrono_literals;
namespace http = net::http;

using insightd::testing::kT0;

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = store::testing::TestDatabase::create();
    ASSERT_NE(db_, nullptr);
    auth::AuthOptions options;
    options.admin_password = "correct horse battery staple";
    auto service = auth::AuthService::open(std::move(options), db_->pool(), clock_);
    ASSERT_TRUE(service.is_ok()) << service.error().message;
    auth_ = std::move(service).value();
    auto login = auth_->login("admin", "correct horse battery staple", "127.0.0.1");
    ASSERT_TRUE(login.is_ok() && login->session.has_value());
    session_ = login->session->session_token;
    csrf_ = login->session->csrf_token;

    net::StaticFiles files;
    files.add("index.html", "<!doctype html><title>dashboard</title>");
    files.add("login.html", "<!doctype html><title>login</title>");
    files.add("vendor/uPlot.iife.min.js", "var uPlot;");
    add_dashboard_routes(router_, *auth_, std::move(files));
    live_ = std::make_unique<AdminLive>(db_->store(), *auth_, hub_, clock_);
    live_->add_routes(router_);
  }

  net::Response call(http::verb method, const std::string& target, bool signed_in,
                     std::string_view if_none_match = "", bool with_csrf = true) {
    net::Request req(method, target, 11);
    if (signed_in) req.set(http::field::cookie, std::string(auth::kSessionCookie) + "=" + session_);
    if (signed_in && with_csrf) req.set(auth::kCsrfHeader, csrf_);
    if (!if_none_match.empty()) req.set(http::field::if_none_match, if_none_match);
    req.prepare_payload();
    return router_.dispatch(req);
  }

  FakeClock clock_{kT0};
  std::unique_ptr<store::testing::TestDatabase> db_;
  std::unique_ptr<auth::AuthService> auth_;
  std::string session_;
  std::string csrf_;
  ingest::LiveHub hub_;
  std::unique_ptr<AdminLive> live_;
  net::Router router_;
};

TEST_F(DashboardTest, AnonymousVisitorsAreSentToTheLoginPage) {
  auto res = call(http::verb::get, "/admin/analytics", false);
  EXPECT_EQ(res.result(), http::status::see_other);
  EXPECT_EQ(res[http::field::location], "/admin/login?next=%2Fadmin%2Fanalytics");
  EXPECT_TRUE(res.body().empty());

  auto login = call(http::verb::get, "/admin/login", false);
  EXPECT_EQ(login.result(), http::status::ok);
  EXPECT_NE(login.body().find("<title>login</title>"), std::string::npos);
  EXPECT_EQ(login[http::field::content_type], "text/html; charset=utf-8");

  for (const char* root : {"/admin", "/admin/"}) {
    auto r = call(http::verb::get, root, false);
    EXPECT_EQ(r.result(), http::status::see_other) << root;
    EXPECT_EQ(r[http::field::location], "/admin/analytics") << root;
  }
}

TEST_F(DashboardTest, ASignedInAdminGetsThePageWithAStrictPolicy) {
  auto res = call(http::verb::get, "/admin/analytics", true);
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_NE(res.body().find("<title>dashboard</title>"), std::string::npos);
  const std::string csp(res["Content-Security-Policy"]);
  EXPECT_NE(csp.find("default-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(res["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(res[http::field::cache_control], "private, no-cache");

  // A logged-out session is anonymous again.
  ASSERT_TRUE(auth_->logout(session_).is_ok());
  EXPECT_EQ(call(http::verb::get, "/admin/analytics", true).result(), http::status::see_other);
}

TEST_F(DashboardTest, AssetsRevalidateByETagAndUnknownOrUnsafeNamesAre404) {
  auto res = call(http::verb::get, "/admin/assets/vendor/uPlot.iife.min.js", false);
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), "var uPlot;");
  EXPECT_EQ(res[http::field::content_type], "text/javascript; charset=utf-8");
  EXPECT_EQ(res[http::field::cache_control], "no-cache");
  EXPECT_FALSE(res["Content-Security-Policy"].empty());
  const std::string etag(res[http::field::etag]);
  auto again = call(http::verb::get, "/admin/assets/vendor/uPlot.iife.min.js?v=2", false, etag);
  EXPECT_EQ(again.result(), http::status::not_modified);
  EXPECT_TRUE(again.body().empty());

  for (const char* bad : {"/admin/assets/missing.js", "/admin/assets/", "/admin/assets",
                          "/admin/assets/../index.html", "/admin/assets/vendor/../../x"}) {
    EXPECT_EQ(call(http::verb::get, bad, false).result(), http::status::not_found) << bad;
  }
}

TEST_F(DashboardTest, LiveTicketsNeedAnAdminExpireAndCannotBeForged) {
  EXPECT_EQ(call(http::verb::post, "/api/admin/live/ticket", false).result(),
            http::status::unauthorized);
  // A cookie without the CSRF header cannot mint one.
  EXPECT_EQ(call(http::verb::post, "/api/admin/live/ticket", true, "", false).result(),
            http::status::forbidden);
  auto res = call(http::verb::post, "/api/admin/live/ticket", true);
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(res[http::field::cache_control], "no-store");
  const auto body = boost::json::parse(res.body()).as_object();
  const std::string ticket(body.at("ticket").as_string());
  EXPECT_EQ(body.at("expiresAt").as_string(), "2026-11-29T10:01:00.000Z");
  EXPECT_TRUE(auth_->stream_ticket_valid(ticket));

  std::string forged = ticket;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_FALSE(auth_->stream_ticket_valid(forged));
  // A later expiry with the old MAC is refused.
  const size_t dot = ticket.find('.');
  EXPECT_FALSE(
      auth_->stream_ticket_valid(std::to_string(to_unix_ms(kT0 + 1h)) + ticket.substr(dot)));
  for (const char* junk : {"", ".", "x.y", "123", "123.", ".abc"}) {
    EXPECT_FALSE(auth_->stream_ticket_valid(junk)) << junk;
  }
  clock_.set(kT0 + 60s);
  EXPECT_TRUE(auth_->stream_ticket_valid(ticket));
  clock_.set(kT0 + 61s);
  EXPECT_FALSE(auth_->stream_ticket_valid(ticket));
}

TEST(DashboardFiles, TheBuildHoldsThePagesAndTheLibrariesFromNpm) {
  net::StaticFiles files = dashboard_files(std::nullopt);
  for (const char* name :
       {"index.html", "login.html", "app.js", "login.js", "app.css", "vendor/uPlot.iife.min.js",
        "vendor/uPlot.min.css", "vendor/socket.io.min.js"}) {
    auto f = files.find(name);
    ASSERT_TRUE(f.has_value()) << name;
    EXPECT_GT(f->body.size(), 100u) << name;
  }
  EXPECT_NE(files.find("vendor/socket.io.min.js")->body.find("Socket.IO"), std::string::npos);
}

}  // namespace
}  // namespace insightd::api
