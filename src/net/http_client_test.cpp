// The outbound client against a local HttpServer: what it sends, what it keeps
// of the answer, and how each failure is told apart.
#include "net/http_client.h"

#include <gtest/gtest.h>

#include <string>

#include "net/http_server.h"
#include "net/router.h"

namespace insightd::net {
namespace {

class HttpClientTest : public ::testing::Test {
 protected:
  HttpClientTest() {
    Router router;
    router.add(http::verb::post, "/echo", RouteKind::kInline,
               [](const Request& req, const PathParams&) {
                 Response res{http::status::accepted, 11};
                 res.set("X-Method", std::string(req.method_string()));
                 res.set("X-Type", std::string(req[http::field::content_type]));
                 res.set("X-Agent", std::string(req[http::field::user_agent]));
                 res.set("Retry-After", "  7 ");
                 res.set("X-Other", "not kept");
                 res.body() = req.body();
                 return res;
               });
    router.add(http::verb::get, "/big", RouteKind::kInline, [](const Request&, const PathParams&) {
      Response res{http::status::ok, 11};
      res.body() = std::string(5000, 'x');
      return res;
    });
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options, std::move(router));
    EXPECT_TRUE(server_->start());
  }
  ~HttpClientTest() override { server_->stop(); }

  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + std::string(path);
  }

  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpClientTest, PostsTheBodyAndKeepsOnlyTheHeadersAskedFor) {
  HttpRequest request{.method = HttpRequest::Method::kPost,
                      .url = url("/echo"),
                      .headers = {"Content-Type: text/plain"},
                      .body = "hello",
                      .keep_headers = {"retry-after", "x-method", "x-type", "x-agent"}};
  HttpResult result = send_http(request);
  ASSERT_TRUE(std::holds_alternative<HttpResponse>(result)) << std::get<HttpError>(result).message;
  const HttpResponse& response = std::get<HttpResponse>(result);
  EXPECT_EQ(response.status, 202);
  EXPECT_EQ(response.body, "hello");
  EXPECT_EQ(response.headers.at("x-method"), "POST");
  EXPECT_EQ(response.headers.at("x-type"), "text/plain");
  EXPECT_EQ(response.headers.at("x-agent"), "insightd");
  EXPECT_EQ(response.headers.at("retry-after"), "7");
  EXPECT_FALSE(response.headers.contains("x-other"));
}

TEST_F(HttpClientTest, AnyStatusIsAnAnswer) {
  HttpResult result = send_http(HttpRequest{.url = url("/nowhere")});
  ASSERT_TRUE(std::holds_alternative<HttpResponse>(result));
  EXPECT_EQ(std::get<HttpResponse>(result).status, 404);
}

TEST_F(HttpClientTest, ABodyOverTheLimitIsRefused) {
  HttpResult fits = send_http(HttpRequest{.url = url("/big"), .max_response_bytes = 5000});
  ASSERT_TRUE(std::holds_alternative<HttpResponse>(fits));
  EXPECT_EQ(std::get<HttpResponse>(fits).body.size(), 5000u);
  HttpResult result = send_http(HttpRequest{.url = url("/big"), .max_response_bytes = 4999});
  ASSERT_TRUE(std::holds_alternative<HttpError>(result));
  EXPECT_EQ(std::get<HttpError>(result).failure, HttpFailure::kTooLarge);
}

TEST(HttpClientFailureTest, FailuresAreToldApart) {
  uint16_t port = 0;
  {
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    HttpServer server(options, Router{});
    ASSERT_TRUE(server.start());
    port = server.port();
  }
  // Nobody listens there any more.
  HttpResult refused = send_http(HttpRequest{.url = "http://127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(std::holds_alternative<HttpError>(refused));
  EXPECT_EQ(std::get<HttpError>(refused).failure, HttpFailure::kConnection);
  EXPECT_FALSE(std::get<HttpError>(refused).message.empty());

  for (const char* unusable : {"ftp://127.0.0.1/", "file:///etc/passwd", "not a url"}) {
    HttpResult result = send_http(HttpRequest{.url = unusable});
    ASSERT_TRUE(std::holds_alternative<HttpError>(result)) << unusable;
    EXPECT_EQ(std::get<HttpError>(result).failure, HttpFailure::kUnusable) << unusable;
  }
}

}  // namespace
}  // namespace insightd::net
