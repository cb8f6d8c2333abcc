#include "analysis/openai_analyzer.h"

#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <mutex>

#include "analysis/text_util.h"
#include "net/curl_handles.h"

namespace insightd::analysis {
namespace {

struct Exchange {
  std::string body;
  size_t max_body = 0;
  bool body_too_large = false;
  std::optional<std::string> retry_after;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t n = size * count;
  if (ex->body.size() + n > ex->max_body) {
    ex->body_too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  ex->body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    ex->retry_after.reset();  // a new response (after a 100 Continue): its own headers
    return n;
  }
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() && ascii_lower(line.substr(0, kName.size())) == kName) {
    std::string_view value = line.substr(kName.size());
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.remove_suffix(1);
    ex->retry_after = std::string(value);
  }
  return n;
}

AnalysisError transport_error(CURLcode code, const char* detail, const OpenAiOptions& options) {
  AnalysisError e;
  const std::string what = detail[0] != '\0' ? detail : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      e.kind = AnalysisErrorKind::kTimeout;
      e.retryable = true;
      e.message = fmt::format("the model API did not answer within {} ms", options.timeout.count());
      return e;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      // Configuration, not weather: retrying will not fix it.
      e.kind = AnalysisErrorKind::kBadRequest;
      e.message = fmt::format("cannot use the model API at OPENAI_BASE_URL: {}", what);
      return e;
    default:
      e.kind = AnalysisErrorKind::kConnection;
      e.retryable = true;
      e.message = fmt::format("could not talk to the model API: {}", what);
      return e;
  }
}

std::string endpoint(std::string_view base_url) {
  while (base_url.ends_with('/')) base_url.remove_suffix(1);
  return std::string(base_url) + "/chat/completions";
}

}  // namespace

OpenAiAnalyzer::OpenAiAnalyzer(OpenAiOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {
  net::init_curl_once();
}

AnalysisResult OpenAiAnalyzer::analyze(std::span<const NewEvent> events,
                                       std::span<const MetricSnapshot> history) {
  if (events.empty()) {
    return AnalysisError{AnalysisErrorKind::kInvalidInput, false, std::nullopt, std::nullopt,
                         "the batch has no events to analyze"};
  }
  const BatchStatistics stats = compute_statistics(events, history);
  boost::json::object metrics = to_json(stats);
  const ChatRequest request = build_chat_request(options_, metrics, events);

  net::CurlEasy curl(curl_easy_init());
  if (!curl) {
    return AnalysisError{AnalysisErrorKind::kConnection, true, std::nullopt, std::nullopt,
                         "could not start an HTTP client (out of memory?)"};
  }
  // The key travels only in this header; it never appears in the URL or a message.
  net::CurlSlist headers;
  for (const std::string& h :
       {std::string("Content-Type: application/json"), std::string("Accept: application/json"),
        "Authorization: Bearer " + options_.api_key,
        std::string("Expect:")}) {  // no 100-continue round trip
    curl_slist* next = curl_slist_append(headers.get(), h.c_str());
    if (next == nullptr) {
      return AnalysisError{AnalysisErrorKind::kConnection, true, std::nullopt, std::nullopt,
                           "could not build the request headers (out of memory?)"};
    }
    (void)headers.release();
    headers.reset(next);
  }
  Exchange ex;
  ex.max_body = options_.max_reply_bytes;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const std::string url = endpoint(options_.base_url);
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect must not carry the key elsewhere
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);        // timeouts without SIGALRM: safe in threads
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // whatever compression libcurl supports
  curl_easy_setopt(h, CURLOPT_USERAGENT, "insightd");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);

  const auto started = std::chrono::steady_clock::now();
  const CURLcode code = curl_easy_perform(h);
  const int64_t latency_ms =
      std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - started).count();
  if (ex.body_too_large) {
    return AnalysisError{
        AnalysisErrorKind::kInvalidReply, false, std::nullopt, std::nullopt,
        fmt::format("the model API's reply is larger than {} bytes", options_.max_reply_bytes)};
  }
  if (code != CURLE_OK) return transport_error(code, error_buffer, options_);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    std::optional<std::string_view> retry_after;
    if (ex.retry_after) retry_after = *ex.retry_after;
    return classify_http_error(static_cast<int>(status), ex.body, retry_after, clock_.now(),
                               options_.api_key);
  }
  auto reply = parse_chat_reply(ex.body, metrics);
  if (auto* error = std::get_if<AnalysisError>(&reply)) {
    error->http_status = static_cast<int>(status);
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
