#include "analysis/openai_analyzer.h"

#include <fmt/format.h>

#include <chrono>
#include <utility>
#include <variant>

#include "net/http_client.h"

namespace insightd::analysis {
namespace {

AnalysisError transport_error(const net::HttpError& error, const OpenAiOptions& options) {
  AnalysisError e;
  switch (error.failure) {
    case net::HttpFailure::kTooLarge:
      e.kind = AnalysisErrorKind::kInvalidReply;
      e.message =
          fmt::format("the model API's reply is larger than {} bytes", options.max_reply_bytes);
      return e;
    case net::HttpFailure::kTimeout:
      e.kind = AnalysisErrorKind::kTimeout;
      e.retryable = true;
      e.message = fmt::format("the model API did not answer within {} ms", options.timeout.count());
      return e;
    case net::HttpFailure::kUnusable:
      // Configuration, not weather: retrying will not fix it.
      e.kind = AnalysisErrorKind::kBadRequest;
      e.message = fmt::format("cannot use the model API at OPENAI_BASE_URL: {}", error.message);
      return e;
    case net::HttpFailure::kSetup:
      e.kind = AnalysisErrorKind::kConnection;
      e.retryable = true;
      e.message = error.message;
      return e;
    case net::HttpFailure::kConnection:
      break;
  }
  e.kind = AnalysisErrorKind::kConnection;
  e.retryable = true;
  e.message = fmt::format("could not talk to the model API: {}", error.message);
  return e;
}

std::string endpoint(std::string_view base_url) {
  while (base_url.ends_with('/')) base_url.remove_suffix(1);
  return std::string(base_url) + "/chat/completions";
}

}  // namespace

OpenAiAnalyzer::OpenAiAnalyzer(OpenAiOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

AnalysisResult OpenAiAnalyzer::analyze(std::span<const NewEvent> events,
                                       std::span<const MetricSnapshot> history) {
  if (events.empty()) {
    return AnalysisError{AnalysisErrorKind::kInvalidInput, false, std::nullopt, std::nullopt,
                         "the batch has no events to analyze"};
  }
  const BatchStatistics stats = compute_statistics(events, history);
  boost::json::object metrics = to_json(stats);
  ChatRequest request = build_chat_request(options_, metrics, events);

  const auto started = std::chrono::steady_clock::now();
  net::HttpResult result = net::send_http(net::HttpRequest{
      .method = net::HttpRequest::Method::kPost,
      .url = endpoint(options_.base_url),
      // The key travels only in this header; it never appears in the URL or a message.
      .headers = {"Content-Type: application/json", "Accept: application/json",
                  "Authorization: Bearer " + options_.api_key,
                  "Expect:"},  // no 100-continue round trip
      .body = std::move(request.body),
      .timeout = options_.timeout,
      .connect_timeout = options_.connect_timeout,
      .max_response_bytes = options_.max_reply_bytes,
      .accept_compressed = true,
      .keep_headers = {"retry-after"}});
  const int64_t latency_ms =
      std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - started).count();
  if (const auto* error = std::get_if<net::HttpError>(&result)) {
    return transport_error(*error, options_);
  }
  const net::HttpResponse& response = std::get<net::HttpResponse>(result);
  const int status = response.status;
  if (status < 200 || status > 299) {
    std::optional<std::string_view> retry_after;
    if (auto it = response.headers.find("retry-after"); it != response.headers.end()) {
      retry_after = it->second;
    }
    return classify_http_error(status, response.body, retry_after, clock_.now(), options_.api_key);
  }
  auto reply = parse_chat_reply(response.body, metrics);
  if (auto* error = std::get_if<AnalysisError>(&reply)) {
    error->http_status = status;
    error->message = redact_secret(error->message, options_.api_key);
    return std::move(*error);
  }
  auto& ok = std::get<ChatReply>(reply);
  Insight insight;
  insight.content = std::move(ok.content);
  insight.metrics = std::move(metrics);
  insight.analyzer = std::string(name());
  insight.model = ok.model ? std::move(ok.model) : std::optional<std::string>(options_.model);
  insight.tokens = ok.usage;
  insight.latency_ms = latency_ms;
  return insight;
}

}  // namespace insightd::analysis
