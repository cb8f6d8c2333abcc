// Sign-in over a real database (SQLite here; PostgreSQL in auth_pgtest): the
// generated password, sessions and their expiry on a fake clock, API tokens,
// CSRF, and the HTTP routes through Router::dispatch.
#include "auth/auth_service.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <regex>
#include <sstream>

#include "auth/auth_routes.h"
#include "auth/tokens.h"
#include "store/testing/test_database.h"

namespace insightd::auth {
namespace {

namespace http = net::http;
namespace json = boost::json;
using std::chrono::hours;
using std::chrono::minutes;
using store::testing::TestDatabase;

constexpr Timestamp kT0 = from_unix_ms(1'800'000'000'000);
constexpr std::string_view kPassword = "correct-horse-battery";

// Captures what the default logger writes while it lives.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

// The password in "[Auth] Generated admin password for 'admin': XXXX (...", or "".
std::string generated_password(const std::string& log) {
  std::smatch m;
  static const std::regex kLine(R"(Generated admin password for '[^']*': (\S+) \(shown once)");
  return std::regex_search(log, m, kLine) ? m[1].str() : "";
}

net::Request request(http::verb method, std::string_view target, std::string_view body = "") {
  net::Request req{method, target, 11};
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
    req.prepare_payload();
  }
  return req;
}

json::object body_of(const net::Response& res) {
  boost::system::error_code ec;
  json::value v = json::parse(res.body(), ec);
  return !ec && v.is_object() ? v.as_object() : json::object();
}

std::string error_code_of(const net::Response& res) {
  const auto body = body_of(res);
  const auto* e = body.if_contains("error");
  if (e == nullptr || !e->is_object()) return "";
  const auto* code = e->as_object().if_contains("code");
  return code != nullptr && code->is_string() ? std::string(code->as_string()) : "";
}

class AuthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::create();
    ASSERT_NE(db_, nullptr);
  }

  AuthOptions options(std::optional<std::string> password = std::string(kPassword)) {
    AuthOptions o;
    o.admin_id = "admin";
    o.admin_password = std::move(password);
    return o;
  }

  std::unique_ptr<AuthService> open(AuthOptions o) {
    auto service = AuthService::open(std::move(o), db_->pool(), clock_);
    EXPECT_TRUE(service.is_ok()) << (service ? "" : service.error().message);
    return service ? std::move(service).value() : nullptr;
  }

  SignedIn sign_in(AuthService& auth, std::string_view password = kPassword) {
    auto out = auth.login("admin", password, "127.0.0.1");
    EXPECT_TRUE(out.is_ok());
    if (!out || out->kind != LoginOutcome::Kind::kSignedIn) {
      ADD_FAILURE() << "sign-in failed";
      return {};
    }
    return *out->session;
  }

  net::Request with_cookie(net::Request req, std::string_view token) {
    req.set(http::field::cookie, fmt::format("theme=dark; {}={}; other=1", kSessionCookie, token));
    return req;
  }

  std::optional<Principal> who(AuthService& auth, const net::Request& req) {
    auto p = auth.authenticate(req);
    EXPECT_TRUE(p.is_ok()) << (p ? "" : p.error().message);
    return p ? *p : std::nullopt;
  }

  int64_t count(std::string_view table) {
    auto conn = db_->pool().acquire();
    EXPECT_TRUE(conn.is_ok());
    auto rows = (*conn)->query(fmt::format("SELECT COUNT(*) FROM \"{}\"", table), {});
    EXPECT_TRUE(rows.is_ok());
    return rows ? rows->front().integer(0) : -1;
  }

  FakeClock clock_{kT0};
  std::unique_ptr<TestDatabase> db_;
};

TEST_F(AuthServiceTest, GeneratedPasswordIsLoggedOnceStoredHashedAndReused) {
  std::string password;
  {
    LogCapture log;
    auto auth = open(options(std::nullopt));
    ASSERT_NE(auth, nullptr);
    password = generated_password(log.text());
    ASSERT_EQ(password.size(), 24u) << log.text();
    EXPECT_NE(log.text().find("set ADMIN_PASSWORD to choose your own"), std::string::npos);
  }
  auto conn = db_->pool().acquire();
  ASSERT_TRUE(conn.is_ok());
  auto rows = (*conn)->query("SELECT password_hash, source FROM \"AdminCredential\"", {});
  ASSERT_TRUE(rows.is_ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_TRUE(rows->front().text(0).starts_with("$argon2id$"));
  EXPECT_EQ(rows->front().text(0).find(password), std::string::npos);
  EXPECT_EQ(rows->front().text(1), "generated");

  // A second start (another process, or a restart) prints nothing and keeps it.
  LogCapture log;
  auto again = open(options(std::nullopt));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(log.text().find("Generated admin password"), std::string::npos) << log.text();
  EXPECT_EQ(log.text().find(password), std::string::npos);
  sign_in(*again, password);
}

TEST_F(AuthServiceTest, ConfiguredPasswordWinsAndEndsEarlierSessions) {
  std::string generated;
  {
    LogCapture log;
    auto first = open(options(std::nullopt));
    ASSERT_NE(first, nullptr);
    generated = generated_password(log.text());
  }
  auto first = open(options(std::nullopt));
  const SignedIn old_session = sign_in(*first, generated);

  LogCapture log;
  auto second = open(options("a-chosen-password"));
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(log.text().find("a-chosen-password"), std::string::npos) << "never log it";
  EXPECT_FALSE(who(*second, with_cookie(request(http::verb::get, "/"), old_session.session_token)))
      << "a new password ends the sessions signed in with the old one";
  auto wrong = second->login("admin", generated, "127.0.0.1");
  ASSERT_TRUE(wrong.is_ok());
  EXPECT_EQ(wrong->kind, LoginOutcome::Kind::kInvalidCredentials);
  const SignedIn s = sign_in(*second, "a-chosen-password");

  // Starting again with the same password changes nothing.
  auto third = open(options("a-chosen-password"));
  ASSERT_NE(third, nullptr);
  EXPECT_TRUE(who(*third, with_cookie(request(http::verb::get, "/"), s.session_token)));
}

TEST_F(AuthServiceTest, GeneratedSecretIsPersistedAndAConfiguredOneReplacesIt) {
  auto a = open(options());
  const SignedIn s = sign_in(*a);
  EXPECT_EQ(count("AppSecret"), 1);
  auto b = open(options());  // another process on the same database
  EXPECT_TRUE(who(*b, with_cookie(request(http::verb::get, "/"), s.session_token)));

  AuthOptions o = options();
  o.auth_secret = std::string(40, 'k');
  auto c = open(o);
  EXPECT_FALSE(who(*c, with_cookie(request(http::verb::get, "/"), s.session_token)))
      << "sessions are keyed by the secret: changing it signs everyone out";
}

TEST_F(AuthServiceTest, WrongIdOrPasswordIsRefused) {
  auto auth = open(options());
  for (auto [id, password] : {std::pair<std::string, std::string>{"admin", "nope-nope-nope"},
                              {"root", std::string(kPassword)},
                              {"", ""}}) {
    auto out = auth->login(id, password, "10.0.0.1");
    ASSERT_TRUE(out.is_ok());
    EXPECT_EQ(out->kind, LoginOutcome::Kind::kInvalidCredentials) << id;
  }
  EXPECT_EQ(count("AdminSession"), 0);
}

TEST_F(AuthServiceTest, SessionsStoreOnlyAKeyedHashOfTheCookie) {
  auto auth = open(options());
  const SignedIn s = sign_in(*auth);
  auto conn = db_->pool().acquire();
  ASSERT_TRUE(conn.is_ok());
  auto rows = (*conn)->query("SELECT session_hash FROM \"AdminSession\"", {});
  ASSERT_TRUE(rows.is_ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_NE(rows->front().text(0), s.session_token);
  EXPECT_NE(rows->front().text(0), sha256_hex(s.session_token));
  EXPECT_EQ(rows->front().text(0).size(), 64u);
}

TEST_F(AuthServiceTest, IdleSessionsExpireAndUseExtendsThem) {
  auto auth = open(options());
  const SignedIn s = sign_in(*auth);
  EXPECT_EQ(s.expires_at, kT0 + hours(12));
  const auto req = with_cookie(request(http::verb::get, "/"), s.session_token);

  clock_.advance(hours(11));
  auto p = who(*auth, req);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->expires_at, kT0 + hours(23)) << "used at 11 h: idle expiry moves to 23 h";
  clock_.advance(hours(11));
  EXPECT_TRUE(who(*auth, req)) << "22 h: used 11 h ago";
  clock_.advance(hours(12));
  EXPECT_FALSE(who(*auth, req)) << "34 h: 12 h without use";
  EXPECT_EQ(count("AdminSession"), 0) << "an expired session is deleted when seen";
}

TEST_F(AuthServiceTest, SessionsEndAtTheAbsoluteExpiryHoweverOftenUsed) {
  auto auth = open(options());
  const SignedIn s = sign_in(*auth);
  EXPECT_EQ(s.absolute_expires_at, kT0 + hours(24 * 7));
  const auto req = with_cookie(request(http::verb::get, "/"), s.session_token);
  while (clock_.now() + hours(6) < kT0 + hours(24 * 7)) {
    clock_.advance(hours(6));
    ASSERT_TRUE(who(*auth, req)) << format_timestamp(clock_.now());
  }
  auto p = who(*auth, req);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->expires_at, kT0 + hours(24 * 7)) << "idle expiry never passes the absolute one";
  clock_.set(kT0 + hours(24 * 7));
  EXPECT_FALSE(who(*auth, req));
}

TEST_F(AuthServiceTest, LogoutEndsTheSessionAndLoginPurgesExpiredOnes) {
  auto auth = open(options());
  const SignedIn a = sign_in(*auth);
  const SignedIn b = sign_in(*auth);
  ASSERT_TRUE(auth->logout(a.session_token).is_ok());
  EXPECT_FALSE(who(*auth, with_cookie(request(http::verb::get, "/"), a.session_token)));
  EXPECT_TRUE(who(*auth, with_cookie(request(http::verb::get, "/"), b.session_token)));
  ASSERT_TRUE(auth->logout("not-a-session").is_ok());

  clock_.advance(hours(13));
  sign_in(*auth);
  EXPECT_EQ(count("AdminSession"), 1) << "b expired and went at the next login";
}

TEST_F(AuthServiceTest, ASessionOfAnEarlierAdminIdIsNobodys) {
  auto auth = open(options());
  const SignedIn s = sign_in(*auth);
  AuthOptions renamed = options();
  renamed.admin_id = "ops";
  auto other = open(renamed);
  EXPECT_FALSE(who(*other, with_cookie(request(http::verb::get, "/"), s.session_token)));
}

TEST_F(AuthServiceTest, ApiTokensAuthenticateUntilRevokedAndAreStoredHashed) {
  auto auth = open(options());
  const Principal admin{.admin_id = "admin"};
  auto created = auth->create_api_token("  deploy script ", admin);
  ASSERT_TRUE(created.is_ok()) << created.error().message;
  EXPECT_TRUE(looks_like_api_token(created->token));
  EXPECT_EQ(created->info.name, "deploy script");
  EXPECT_TRUE(created->info.token_id.starts_with("tok_"));

  auto req = request(http::verb::post, "/api/admin/anything");
  req.set(http::field::authorization, "Bearer " + created->token);
  clock_.advance(minutes(5));
  auto p = who(*auth, req);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->method, Principal::Method::kApiToken);
  EXPECT_EQ(p->token_id, created->info.token_id);
  EXPECT_TRUE(AuthService::csrf_ok(req, *p)) << "bearer requests need no CSRF token";

  auto listed = auth->api_tokens();
  ASSERT_TRUE(listed.is_ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().last_used_at, kT0 + minutes(5));

  auto conn = db_->pool().acquire();
  ASSERT_TRUE(conn.is_ok());
  auto rows = (*conn)->query("SELECT token_hash FROM \"ApiToken\"", {});
  ASSERT_TRUE(rows.is_ok());
  EXPECT_EQ(rows->front().text(0), api_token_digest(created->token));

  auto wrong = req;
  wrong.set(http::field::authorization, "Bearer " + new_api_token());
  EXPECT_FALSE(who(*auth, wrong));
  wrong.set(http::field::authorization, "Bearer garbage");
  EXPECT_FALSE(who(*auth, wrong));

  auto revoked = auth->revoke_api_token(created->info.token_id);
  ASSERT_TRUE(revoked.is_ok());
  EXPECT_TRUE(*revoked);
  EXPECT_FALSE(who(*auth, req));
  revoked = auth->revoke_api_token(created->info.token_id);
  ASSERT_TRUE(revoked.is_ok());
  EXPECT_FALSE(*revoked);

  EXPECT_EQ(auth->create_api_token("   ", admin).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(auth->create_api_token(std::string(101, 'n'), admin).code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(AuthServiceTest, CookieStateChangesNeedTheSessionsCsrfToken) {
  auto auth = open(options());
  const SignedIn s = sign_in(*auth);
  auto get = with_cookie(request(http::verb::get, "/api/admin/tokens"), s.session_token);
  auto p = who(*auth, get);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->csrf_token, s.csrf_token);
  EXPECT_TRUE(AuthService::csrf_ok(get, *p));
  for (http::verb m : {http::verb::post, http::verb::put, http::verb::patch, http::verb::delete_}) {
    auto req = with_cookie(request(m, "/api/admin/tokens"), s.session_token);
    EXPECT_FALSE(AuthService::csrf_ok(req, *p)) << "no header";
    // Another first character (a random token may itself start with 'x').
    req.set(kCsrfHeader, (s.csrf_token[0] == 'x' ? "y" : "x") + s.csrf_token.substr(1));
    EXPECT_FALSE(AuthService::csrf_ok(req, *p)) << "wrong token";
    req.set(kCsrfHeader, s.csrf_token);
    EXPECT_TRUE(AuthService::csrf_ok(req, *p));
  }
}

TEST(FindCookie, ReadsOneCookieAmongMany) {
  net::Request req{http::verb::get, "/", 11};
  EXPECT_FALSE(find_cookie(req, "insightd_session"));
  req.insert(http::field::cookie, "a=1; insightd_sessionx=no");
  req.insert(http::field::cookie, "b=2;insightd_session=\"yes\" ; c=3");
  EXPECT_EQ(find_cookie(req, "insightd_session").value_or("?"), "yes");
  EXPECT_EQ(find_cookie(req, "a").value_or("?"), "1");
  EXPECT_FALSE(find_cookie(req, "insightd"));
}

// ---------------------------------------------------------------------------
// The HTTP routes, through the router as the server would run them.

class AuthRoutesTest : public AuthServiceTest {
 protected:
  void SetUp() override {
    AuthServiceTest::SetUp();
    if (HasFatalFailure()) return;
    auth_ = open(options());
    ASSERT_NE(auth_, nullptr);
    add_auth_routes(router_, *auth_);
  }

  net::Response login(std::string_view id, std::string_view password,
                      std::string_view peer = "192.0.2.1") {
    auto req = request(http::verb::post, "/api/auth/login",
                       json::serialize(json::object{{"id", id}, {"password", password}}));
    req.set(net::kPeerAddressHeader, peer);
    return router_.dispatch(req);
  }

  // The cookie's value from a Set-Cookie header.
  static std::string cookie_value(const net::Response& res) {
    const std::string header(res[http::field::set_cookie]);
    const std::string prefix = std::string(kSessionCookie) + "=";
    if (!header.starts_with(prefix)) return "";
    return header.substr(prefix.size(), header.find(';') - prefix.size());
  }

  std::unique_ptr<AuthService> auth_;
  net::Router router_;
};

TEST_F(AuthRoutesTest, LoginSetsAnHttpOnlyStrictCookieAndReturnsTheCsrfToken) {
  auto res = login("admin", kPassword);
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  const std::string cookie(res[http::field::set_cookie]);
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("Path=/"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("Max-Age=604800"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("Secure"), std::string::npos) << "plain HTTP: " << cookie;
  EXPECT_EQ(res[http::field::cache_control], "no-store");
  const auto body = body_of(res);
  EXPECT_EQ(body.at("ok"), true);
  EXPECT_EQ(body.at("csrfToken").as_string().size(), 43u);
  EXPECT_NE(body.at("csrfToken").as_string(), cookie_value(res));

  auto session = with_cookie(request(http::verb::get, "/api/auth/session"), cookie_value(res));
  auto me = router_.dispatch(session);
  ASSERT_EQ(me.result(), http::status::ok) << me.body();
  EXPECT_EQ(body_of(me).at("id").as_string(), "admin");
  EXPECT_EQ(body_of(me).at("csrfToken"), body.at("csrfToken"));
  EXPECT_EQ(router_.dispatch(request(http::verb::get, "/api/auth/session")).result(),
            http::status::unauthorized);
}

TEST_F(AuthRoutesTest, CookieIsSecureBehindTls) {
  auto req = request(http::verb::post, "/api/auth/login",
                     json::serialize(json::object{{"id", "admin"}, {"password", kPassword}}));
  req.set("X-Forwarded-Proto", "https");
  auto res = router_.dispatch(req);
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_NE(std::string(res[http::field::set_cookie]).find("; Secure"), std::string::npos);

  AuthOptions o = options();
  o.secure_cookies = true;  // PUBLIC_URL=https://...
  auto secure = open(o);
  net::Router router;
  add_auth_routes(router, *secure);
  req.erase("X-Forwarded-Proto");
  res = router.dispatch(req);
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_NE(std::string(res[http::field::set_cookie]).find("; Secure"), std::string::npos);
}

TEST_F(AuthRoutesTest, BadLoginsAre401AndMalformedOnes400Or415) {
  auto res = login("admin", "wrong-password");
  EXPECT_EQ(res.result(), http::status::unauthorized);
  EXPECT_EQ(error_code_of(res), "invalid_credentials");
  EXPECT_TRUE(res[http::field::set_cookie].empty());

  EXPECT_EQ(
      router_.dispatch(request(http::verb::post, "/api/auth/login", "{\"id\":\"admin\"}")).result(),
      http::status::bad_request);
  EXPECT_EQ(router_.dispatch(request(http::verb::post, "/api/auth/login", "[1]")).result(),
            http::status::bad_request);
  auto form = request(http::verb::post, "/api/auth/login", "id=admin&password=x");
  form.set(http::field::content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(router_.dispatch(form).result(), http::status::unsupported_media_type);
}

TEST_F(AuthRoutesTest, FiveFailedLoginsFromOneAddressGet429EvenWithTheRightPassword) {
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(login("admin", "wrong-password").result(), http::status::unauthorized) << i;
  }
  auto res = login("admin", kPassword);
  EXPECT_EQ(res.result(), http::status::too_many_requests) << res.body();
  EXPECT_EQ(error_code_of(res), "rate_limited");
  EXPECT_EQ(res[http::field::retry_after], "900");
  EXPECT_EQ(login("admin", kPassword, "192.0.2.2").result(), http::status::ok)
      << "another address is counted apart";
  clock_.advance(minutes(15));
  EXPECT_EQ(login("admin", kPassword).result(), http::status::ok);
}

TEST_F(AuthRoutesTest, AdminRoutesNeedSignInAndCsrfForCookieStateChanges) {
  EXPECT_EQ(error_code_of(router_.dispatch(request(http::verb::get, "/api/admin/tokens"))),
            "unauthorized");
  EXPECT_EQ(
      router_.dispatch(request(http::verb::post, "/api/admin/tokens", R"({"name":"x"})")).result(),
      http::status::unauthorized);

  auto res = login("admin", kPassword);
  const std::string cookie = cookie_value(res);
  const std::string csrf(body_of(res).at("csrfToken").as_string());
  auto list = router_.dispatch(with_cookie(request(http::verb::get, "/api/admin/tokens"), cookie));
  ASSERT_EQ(list.result(), http::status::ok) << list.body();

  auto post =
      with_cookie(request(http::verb::post, "/api/admin/tokens", R"({"name":"ci"})"), cookie);
  auto refused = router_.dispatch(post);
  EXPECT_EQ(refused.result(), http::status::forbidden);
  EXPECT_EQ(error_code_of(refused), "csrf");
  post.set(kCsrfHeader, csrf);
  auto created = router_.dispatch(post);
  ASSERT_EQ(created.result(), http::status::created) << created.body();
  const std::string token(body_of(created).at("token").as_string());
  const std::string id(body_of(created).at("id").as_string());
  EXPECT_TRUE(looks_like_api_token(token));

  auto bearer = request(http::verb::get, "/api/admin/tokens");
  bearer.set(http::field::authorization, "Bearer " + token);
  list = router_.dispatch(bearer);
  ASSERT_EQ(list.result(), http::status::ok);
  EXPECT_EQ(list.body().find(token), std::string::npos) << "listing never shows a token";
  EXPECT_NE(list.body().find(id), std::string::npos);

  auto del = request(http::verb::delete_, "/api/admin/tokens/" + id);
  del.set(http::field::authorization, "Bearer " + token);
  EXPECT_EQ(router_.dispatch(del).result(), http::status::ok) << "bearer: no CSRF needed";
  EXPECT_EQ(router_.dispatch(bearer).result(), http::status::unauthorized) << "revoked";
  auto again = with_cookie(request(http::verb::delete_, "/api/admin/tokens/" + id), cookie);
  again.set(kCsrfHeader, csrf);
  EXPECT_EQ(router_.dispatch(again).result(), http::status::not_found);
}

TEST_F(AuthRoutesTest, LogoutNeedsCsrfThenEndsTheSessionAndClearsTheCookie) {
  auto res = login("admin", kPassword);
  const std::string cookie = cookie_value(res);
  const std::string csrf(body_of(res).at("csrfToken").as_string());
  auto out = with_cookie(request(http::verb::post, "/api/auth/logout"), cookie);
  EXPECT_EQ(router_.dispatch(out).result(), http::status::forbidden);
  out.set(kCsrfHeader, csrf);
  auto done = router_.dispatch(out);
  ASSERT_EQ(done.result(), http::status::ok);
  EXPECT_NE(std::string(done[http::field::set_cookie]).find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(
      router_.dispatch(with_cookie(request(http::verb::get, "/api/admin/tokens"), cookie)).result(),
      http::status::unauthorized);
  // Logging out again (an expired or unknown cookie) just clears the cookie.
  EXPECT_EQ(router_.dispatch(out).result(), http::status::ok);
}

}  // namespace
}  // namespace insightd::auth
