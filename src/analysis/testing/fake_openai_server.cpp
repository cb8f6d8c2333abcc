#include "analysis/testing/fake_openai_server.h"

#include <fmt/format.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>

#include "analysis/insight.h"
#include "analysis/json_text.h"
#include "net/router.h"

namespace insightd::analysis::testing {
namespace {

namespace json = boost::json;

std::string_view view(json::string_view s) {
  return {s.data(), s.size()};
}

// Chat Completions' response envelope around `content`.
std::string completion(const std::string& content) {
  json::object body{
      {"id", "chatcmpl-fake"},
      {"object", "chat.completion"},
      {"model", "fake-model-2026"},
      {"choices", json::array{json::object{{"index", 0},
                                           {"message", json::object{{"role", "assistant"},
                                                                    {"content", content},
                                                                    {"refusal", nullptr}}},
                                           {"finish_reason", "stop"}}}},
      {"usage",
       json::object{{"prompt_tokens", 1234}, {"completion_tokens", 56}, {"total_tokens", 1290}}}};
  return json::serialize(body);
}

// The statistics JSON out of the user message, as build_chat_request writes it.
std::optional<json::object> statistics_in(const json::value& body) {
  const auto* messages = body.as_object().if_contains("messages");
  if (messages == nullptr || !messages->is_array()) return std::nullopt;
  for (const auto& m : messages->get_array()) {
    if (!m.is_object() || m.get_object().if_contains("role") == nullptr) continue;
    if (m.at("role") != "user") continue;
    const std::string_view text = view(m.at("content").as_string());
    const auto start = text.find(":\n{");
    const auto end = text.find("}\n\n");
    if (start == std::string_view::npos || end == std::string_view::npos) return std::nullopt;
    boost::system::error_code ec;
    json::value stats = json::parse(text.substr(start + 2, end + 1 - (start + 2)), ec);
    if (ec || !stats.is_object()) return std::nullopt;
    return stats.get_object();
  }
  return std::nullopt;
}

// An insight that a careful model would write: every figure from `stats`.
json::object grounded_insight(const json::object& stats) {
  const auto events = stats.at("event_count").as_int64();
  const auto users = stats.at("unique_users").as_int64();
  InsightContent c;
  c.summary = fmt::format("The batch holds {} events from {} users.", events, users);
  c.confidence = 0.8;
  c.patterns.push_back({"Volume",
                        fmt::format("{} events arrived.", events),
                        {{"event_count", static_cast<double>(events)}}});
  c.recommendations.push_back("Keep watching the next batches.");
  return to_json(c);
}

}  // namespace

struct FakeOpenAiServer::State {
  std::string api_key;
  std::string model;
  mutable std::mutex mu;
  std::condition_variable released_cv;
  bool released = false;
  std::vector<std::string> problems;
  json::value last_body;

  void problem(std::string p) {
    std::lock_guard lock(mu);
    problems.push_back(std::move(p));
  }
};

FakeOpenAiServer::FakeOpenAiServer(std::string api_key, std::string model)
    : state_(std::make_shared<State>()) {
  state_->api_key = std::move(api_key);
  state_->model = std::move(model);
  net::Router router;
  router.add(
      net::http::verb::post, "/v1/chat/completions", net::RouteKind::kBlocking,
      [this, state = state_](const net::Request& req, const net::PathParams&) {
        ++requests_;
        const Answer answer = answer_.load();
        auto reply = [](net::http::status status, std::string body) {
          net::Response res{status, 11};
          res.set(net::http::field::content_type, "application/json");
          res.body() = std::move(body);
          return res;
        };
        if (req[net::http::field::authorization] != "Bearer " + state->api_key) {
          state->problem("wrong or missing bearer key");
          return reply(
              net::http::status::unauthorized,
              R"({"error":{"message":"missing or wrong key","type":"invalid_request_error"}})");
        }
        if (req.body().size() > kMaxRequestBytes) {
          state->problem(fmt::format("request of {} bytes", req.body().size()));
          return reply(net::http::status::payload_too_large,
                       R"({"error":{"message":"too large"}})");
        }
        boost::system::error_code ec;
        json::value body = json::parse(req.body(), ec);
        if (ec || !body.is_object()) {
          state->problem("request body is not a JSON object");
          return reply(net::http::status::bad_request, R"({"error":{"message":"bad json"}})");
        }
        {
          std::lock_guard lock(state->mu);
          state->last_body = body;
        }
        const auto& o = body.get_object();
        if (o.if_contains("model") == nullptr || o.at("model") != json::value(state->model)) {
          state->problem("model is not the configured one");
        }
        for (const auto& [key, unused] : o) {
          if (key != "model" && key != "messages" && key != "response_format") {
            state->problem(fmt::format("unexpected request field {}", view(key)));
          }
        }
        const json::value* format = o.if_contains("response_format");
        const json::value* spec = format != nullptr && format->is_object()
                                      ? format->get_object().if_contains("json_schema")
                                      : nullptr;
        const json::value* type =
            spec != nullptr ? format->get_object().if_contains("type") : nullptr;
        if (spec == nullptr || type == nullptr || *type != "json_schema" || !spec->is_object() ||
            spec->get_object().if_contains("strict") == nullptr ||
            spec->at("strict") != json::value(true) ||
            spec->get_object().if_contains("schema") == nullptr ||
            spec->at("schema") != json::value(insight_content_schema())) {
          state->problem("response_format is not the strict insight schema");
        }
        const auto stats = statistics_in(body);
        if (!stats) {
          state->problem("no statistics in the user message");
          return reply(net::http::status::bad_request, R"({"error":{"message":"no stats"}})");
        }
        switch (answer) {
          case Answer::kValidInsight:
            return reply(net::http::status::ok, completion(serialize(grounded_insight(*stats))));
          case Answer::kSlow: {
            std::unique_lock lock(state->mu);
            state->released_cv.wait_for(lock, std::chrono::seconds(3),
                                        [&] { return state->released; });
            return reply(net::http::status::ok, completion(serialize(grounded_insight(*stats))));
          }
          case Answer::kUngroundedInsight: {
            json::object insight = grounded_insight(*stats);
            insight["patterns"].as_array()[0].as_object()["evidence"] =
                json::array{json::object{{"metric", "purchases"}, {"value", 12345}}};
            return reply(net::http::status::ok, completion(serialize(insight)));
          }
          case Answer::kSchemaBreaking: {
            json::object insight = grounded_insight(*stats);
            insight.erase("confidence");
            insight["mood"] = "optimistic";
            return reply(net::http::status::ok, completion(serialize(insight)));
          }
          case Answer::kContentNotJson:
            return reply(net::http::status::ok,
                         completion("Sure! Here is your insight: {summary: great"));
          case Answer::kBodyNotJson:
            return reply(net::http::status::ok, "<html>upstream proxy says hi</html>");
          case Answer::kUnauthorized:
            return reply(
                net::http::status::unauthorized,
                fmt::format(
                    R"({{"error":{{"message":"Incorrect API key provided: {}. You can find your API key at https://platform.example/account/api-keys.","type":"invalid_request_error","code":"invalid_api_key"}}}})",
                    state->api_key));
          case Answer::kRateLimited: {
            auto res = reply(
                net::http::status::too_many_requests,
                R"({"error":{"message":"Rate limit reached for requests","type":"requests"}})");
            res.set(net::http::field::retry_after, "7");
            return res;
          }
          case Answer::kServerError:
            return reply(
                net::http::status::internal_server_error,
                R"({"error":{"message":"The server had an error while processing your request."}})");
        }
        return reply(net::http::status::internal_server_error, "{}");
      });
  net::HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.blocking_threads = 2;
  server_ = std::make_unique<net::HttpServer>(options, std::move(router));
  Status started = server_->start();
  if (!started) throw std::runtime_error("fake OpenAI server: " + started.message());
}

FakeOpenAiServer::~FakeOpenAiServer() {
  release_slow();
  server_->stop();
}

std::string FakeOpenAiServer::base_url() const {
  return fmt::format("http://127.0.0.1:{}/v1", server_->port());
}

std::vector<std::string> FakeOpenAiServer::problems() const {
  std::lock_guard lock(state_->mu);
  return state_->problems;
}

void FakeOpenAiServer::clear_problems() {
  std::lock_guard lock(state_->mu);
  state_->problems.clear();
}

json::value FakeOpenAiServer::last_body() const {
  std::lock_guard lock(state_->mu);
  return state_->last_body;
}

void FakeOpenAiServer::release_slow() {
  {
    std::lock_guard lock(state_->mu);
    state_->released = true;
  }
  state_->released_cv.notify_all();
}

}  // namespace insightd::analysis::testing
