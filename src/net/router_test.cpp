#include "net/router.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>
#include <thread>

#include "net/upgrade.h"

namespace insightd::net {
namespace {

Request make_request(http::verb method, std::string_view target) {
  Request req{method, target, 11};
  req.set(http::field::host, "localhost");
  return req;
}

// A handler that answers with its name and the `id` parameter, if any.
Handler named(std::string name) {
  return [name = std::move(name)](const Request&, const PathParams& params) {
    boost::json::object body{{"route", name}};
    if (!params.get("id").empty()) body["id"] = params.get("id");
    return json_response(http::status::ok, body);
  };
}

boost::json::value body_of(const Response& res) {
  return boost::json::parse(res.body());
}

std::string route_of(const Response& res) {
  if (res.result() != http::status::ok) return "status " + std::to_string(res.result_int());
  return std::string(body_of(res).at("route").as_string());
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.add(http::verb::get, "/healthz", RouteKind::kInline, named("healthz"));
    router_.add(http::verb::get, "/api/admin/batches", RouteKind::kBlocking, named("batches"));
    router_.add(http::verb::get, "/api/admin/batches/{id}", RouteKind::kBlocking, named("batch"));
    router_.add(http::verb::post, "/api/admin/batches/{id}/seal", RouteKind::kBlocking,
                named("seal"));
    router_.add(http::verb::get, "/api/admin/batches/open", RouteKind::kBlocking, named("open"));
    router_.add_prefix(http::verb::get, "/api/socket", RouteKind::kInline, named("socket-get"));
    router_.add_prefix(http::verb::post, "/api/socket/", RouteKind::kInline, named("socket-post"));
    router_.add_prefix(http::verb::get, "/static", RouteKind::kInline, named("static"));
    router_.add_prefix(http::verb::get, "/static/special", RouteKind::kInline, named("special"));
  }

  std::string dispatch(http::verb method, std::string_view target) {
    return route_of(router_.dispatch(make_request(method, target)));
  }

  Router router_;
};

TEST_F(RouterTest, ExactPathsMatchWholePathOnly) {
  EXPECT_EQ(dispatch(http::verb::get, "/healthz"), "healthz");
  EXPECT_EQ(dispatch(http::verb::get, "/healthz?verbose=1"), "healthz");
  EXPECT_EQ(dispatch(http::verb::get, "/api/admin/batches"), "batches");
  EXPECT_EQ(dispatch(http::verb::get, "/healthz/"), "status 404");
  EXPECT_EQ(dispatch(http::verb::get, "/health"), "status 404");
}

TEST_F(RouterTest, AbsoluteFormTargetsRouteByTheirPath) {
  EXPECT_EQ(dispatch(http::verb::get, "http://localhost:3000/healthz"), "healthz");
}

// Regression (found by fuzz_router): Boost.URL 1.81 asserts on a scheme with an
// empty path followed by a query or fragment; such targets are 400 instead.
TEST_F(RouterTest, SchemeWithAnEmptyPathAndMoreIs400) {
  for (const char* target : {"x:?", "x:#", "http:?a=b"}) {
    EXPECT_EQ(dispatch(http::verb::get, target), "status 400") << target;
  }
}

TEST_F(RouterTest, PercentEncodedLiteralsMatchTheirDecodedForm) {
  EXPECT_EQ(dispatch(http::verb::get, "/heal%74hz"), "healthz");
}

TEST_F(RouterTest, ParametersAreExtractedAndDecoded) {
  Response res = router_.dispatch(make_request(http::verb::get, "/api/admin/batches/b-42"));
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(body_of(res).at("route"), "batch");
  EXPECT_EQ(body_of(res).at("id"), "b-42");

  res = router_.dispatch(make_request(http::verb::get, "/api/admin/batches/a%2Fb%20c"));
  EXPECT_EQ(body_of(res).at("id"), "a/b c");

  res = router_.dispatch(make_request(http::verb::post, "/api/admin/batches/7/seal"));
  EXPECT_EQ(body_of(res).at("route"), "seal");
  EXPECT_EQ(body_of(res).at("id"), "7");
}

TEST_F(RouterTest, ParameterNeverMatchesAnEmptySegment) {
  EXPECT_EQ(dispatch(http::verb::get, "/api/admin/batches/"), "status 404");
}

TEST_F(RouterTest, LiteralSegmentBeatsParameterWhateverTheOrderOfRegistration) {
  EXPECT_EQ(dispatch(http::verb::get, "/api/admin/batches/open"), "open");
  EXPECT_EQ(dispatch(http::verb::get, "/api/admin/batches/closed"), "batch");
}

TEST_F(RouterTest, PrefixClaimsItselfItsTrailingSlashAndEverythingBelow) {
  EXPECT_EQ(dispatch(http::verb::get, "/api/socket"), "socket-get");
  EXPECT_EQ(dispatch(http::verb::get, "/api/socket/?EIO=4&transport=polling"), "socket-get");
  EXPECT_EQ(dispatch(http::verb::get, "/api/socket/deeper/still"), "socket-get");
  // Registered with a trailing slash, it claims the same paths.
  EXPECT_EQ(dispatch(http::verb::post, "/api/socket?EIO=4"), "socket-post");
  EXPECT_EQ(dispatch(http::verb::post, "/api/socket/"), "socket-post");
  EXPECT_EQ(dispatch(http::verb::get, "/api/sockets"), "status 404");
}

TEST_F(RouterTest, LongestPrefixWins) {
  EXPECT_EQ(dispatch(http::verb::get, "/static/app.js"), "static");
  EXPECT_EQ(dispatch(http::verb::get, "/static/special/x"), "special");
}

TEST_F(RouterTest, UnknownPathIsA404JsonError) {
  Response res = router_.dispatch(make_request(http::verb::get, "/nope"));
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  auto error = body_of(res).at("error");
  EXPECT_EQ(error.at("code"), "not_found");
  EXPECT_FALSE(error.at("message").as_string().empty());
}

TEST_F(RouterTest, KnownPathWithAnotherMethodIsA405WithAllow) {
  Response res = router_.dispatch(make_request(http::verb::delete_, "/healthz"));
  EXPECT_EQ(res.result(), http::status::method_not_allowed);
  EXPECT_EQ(res[http::field::allow], "GET, HEAD");
  EXPECT_EQ(body_of(res).at("error").at("code"), "method_not_allowed");

  // Allow lists every method of every route whose path matches.
  res = router_.dispatch(make_request(http::verb::put, "/api/socket/"));
  EXPECT_EQ(res.result(), http::status::method_not_allowed);
  EXPECT_EQ(res[http::field::allow], "GET, HEAD, POST");
}

TEST_F(RouterTest, HeadFallsBackToGet) {
  EXPECT_EQ(dispatch(http::verb::head, "/healthz"), "healthz");
}

TEST_F(RouterTest, ResolveReportsTheKindWithoutRunningTheHandler) {
  int runs = 0;
  Router router;
  router.add(http::verb::get, "/db/{id}", RouteKind::kBlocking,
             [&runs](const Request&, const PathParams&) {
               ++runs;
               return json_response(http::status::ok, nullptr);
             });
  auto resolved = router.resolve(make_request(http::verb::get, "/db/9"));
  auto* match = std::get_if<RouteMatch>(&resolved);
  ASSERT_NE(match, nullptr);
  EXPECT_EQ(match->kind(), RouteKind::kBlocking);
  EXPECT_EQ(match->params().get("id"), "9");
  EXPECT_EQ(runs, 0);
  match->run(make_request(http::verb::get, "/db/9"));
  EXPECT_EQ(runs, 1);
}

TEST_F(RouterTest, DispatchWaitsForADeferredAnswer) {
  Router router;
  router.add_prefix(http::verb::get, "/later", [](Request, const PathParams&, Responder r) {
    std::thread([r] { r.send(json_response(http::status::ok, {{"route", "later"}})); }).detach();
  });
  EXPECT_EQ(route_of(router.dispatch(make_request(http::verb::get, "/later/x"))), "later");
}

TEST_F(RouterTest, UpgradePrefixMatchesOnlyWebSocketUpgradesUnderIt) {
  Router router;
  int which = 0;
  router.add_upgrade_prefix("/api/socket/", [&which](UpgradeRequest&) { which = 1; });
  router.add_upgrade_prefix("/api/socket/deeper", [&which](UpgradeRequest&) { which = 2; });
  auto upgrade = [](std::string_view target) {
    Request req = make_request(http::verb::get, target);
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    req.set(http::field::sec_websocket_version, "13");
    return req;
  };
  EXPECT_NE(router.resolve_upgrade(upgrade("/api/socket")), nullptr);
  EXPECT_NE(router.resolve_upgrade(upgrade("/api/socket/?EIO=4&transport=websocket")), nullptr);
  EXPECT_EQ(router.resolve_upgrade(upgrade("/api/sockets")), nullptr);
  EXPECT_EQ(router.resolve_upgrade(upgrade("/other")), nullptr);
  // A plain GET under the prefix is not an upgrade.
  EXPECT_EQ(router.resolve_upgrade(make_request(http::verb::get, "/api/socket/")), nullptr);
  // The longest prefix wins.
  const UpgradeHandler* deeper = router.resolve_upgrade(upgrade("/api/socket/deeper/x"));
  ASSERT_NE(deeper, nullptr);
  EXPECT_NE(deeper, router.resolve_upgrade(upgrade("/api/socket/")));
}

TEST_F(RouterTest, InvalidTargetIsA400) {
  Response res = router_.dispatch(make_request(http::verb::get, "/bad%zz"));
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(body_of(res).at("error").at("code"), "bad_request");
}

TEST(RouterRoutesTest, RoutesAreNamedByTheirPatternNeverByARequestPath) {
  Router router;
  router.add(http::verb::get, "/healthz", RouteKind::kInline, named("health"));
  router.add(http::verb::get, "/api/batches/{id}", RouteKind::kBlocking, named("batch"));
  router.add_prefix(http::verb::get, "/api/socket/", RouteKind::kInline, named("socket"));
  router.add(http::verb::get, "/", RouteKind::kInline, named("root"));
  const auto routes = router.routes();
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[0].pattern, "/healthz");
  EXPECT_EQ(routes[1].pattern, "/api/batches/{id}");
  EXPECT_EQ(routes[2].pattern, "/api/socket/*");
  EXPECT_EQ(routes[3].pattern, "/");
  for (size_t i = 0; i < routes.size(); ++i) {
    EXPECT_EQ(routes[i].id, i);
    EXPECT_EQ(routes[i].method, http::verb::get);
  }
  // resolve() says which one matched, whatever the precedence order inside.
  auto id_of = [&](std::string_view target) {
    auto resolved = router.resolve(make_request(http::verb::get, target));
    auto* match = std::get_if<RouteMatch>(&resolved);
    return match == nullptr ? Router::kNoRoute : match->route_id();
  };
  EXPECT_EQ(id_of("/healthz"), 0u);
  EXPECT_EQ(id_of("/api/batches/batch_7"), 1u);
  EXPECT_EQ(id_of("/api/socket/?EIO=4"), 2u);
  EXPECT_EQ(id_of("/"), 3u);
  EXPECT_EQ(id_of("/nope"), Router::kNoRoute);
}

TEST(HttpHelpersTest, ErrorResponseHasTheSpecShape) {
  Response res = error_response(http::status::conflict, "conflict", "a job is already \"running\"");
  EXPECT_EQ(res.result(), http::status::conflict);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(boost::json::parse(res.body()),
            boost::json::parse(
                R"({"error":{"code":"conflict","message":"a job is already \"running\""}})"));
}

TEST(HttpHelpersTest, ErrorsMapToFittingStatuses) {
  Response res = error_response(make_error(ErrorCode::kNotFound, "no batch 7"));
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(body_of(res).at("error").at("code"), "not_found");
  EXPECT_EQ(body_of(res).at("error").at("message"), "no batch 7");

  EXPECT_EQ(http_status_for(ErrorCode::kConflict), http::status::conflict);
  EXPECT_EQ(http_status_for(ErrorCode::kUnavailable), http::status::service_unavailable);

  // Internal details stay in the logs.
  res = error_response(make_error(ErrorCode::kInternal, "SQL: relation \"Event\" is locked"));
  EXPECT_EQ(res.result(), http::status::internal_server_error);
  EXPECT_EQ(body_of(res).at("error").at("message"), "internal error");
}

}  // namespace
}  // namespace insightd::net

namespace insightd::net {
namespace {

TEST(QueryParams, DecodesEveryParameterAndTheLastRepeatWins) {
  Request req(http::verb::get, "/x?a=1&b=two%20words&a=3&flag&empty=", 11);
  const auto q = query_params(req);
  EXPECT_EQ(q.at("a"), "3");
  EXPECT_EQ(q.at("b"), "two words");
  EXPECT_EQ(q.at("flag"), "");
  EXPECT_EQ(q.at("empty"), "");
  EXPECT_EQ(q.size(), 4u);
  EXPECT_TRUE(query_params(Request(http::verb::get, "/x", 11)).empty());
  EXPECT_TRUE(query_params(Request(http::verb::get, "/x?", 11)).empty());
}

}  // namespace
}  // namespace insightd::net
