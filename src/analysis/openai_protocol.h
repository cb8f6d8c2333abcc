// The OpenAI Chat Completions protocol as insightd speaks it, without the
// network: the request body (statistics + a bounded sample of events + the
// strict JSON schema), the reading of a reply, and the classification of a
// failed answer. Only fields every OpenAI-compatible server takes (vLLM,
// Ollama, llama.cpp's server) are sent: model, messages and response_format.
// openai_analyzer.h puts this on the wire with net's HTTP client.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "analysis/analyzer.h"
#include "analysis/insight.h"
#include "analysis/statistics.h"
#include "core/model.h"
#include "core/time.h"

namespace insightd::analysis {

struct OpenAiOptions {
  std::string base_url = "https://api.openai.com/v1";  // "/chat/completions" is appended
  std::string api_key;                                 // secret: sent only as the bearer token
  std::string model = "gpt-4o-mini";
  Millis timeout{60'000};  // the whole request, connection included
  Millis connect_timeout{10'000};
  // Budget for the prompt (instructions + statistics + event sample), in
  // estimated tokens (estimate_tokens). Events are added to the sample only
  // while it holds, so a batch of large events never makes a large request.
  size_t max_prompt_tokens = 8'000;
  size_t max_sample_events = 50;
  // An event's metadata longer than this is sent as a cut excerpt.
  size_t max_event_metadata_bytes = 600;
  // A reply body larger than this is refused (kInvalidReply).
  size_t max_reply_bytes = size_t{1} << 20;
};

// The "name" of the response format.
inline constexpr std::string_view kResponseFormatName = "batch_insight";

// A deliberately high estimate of the tokens `text` costs: a token per three
// ASCII bytes, and one per other character (CJK and emoji cost more per byte).
size_t estimate_tokens(std::string_view text);

struct ChatRequest {
  std::string body;  // the JSON request body
  size_t sample_events = 0;
  size_t estimated_prompt_tokens = 0;
};

// Builds the request for one batch. The sample puts error-like events first
// (up to half of it), then events spread evenly over the batch, and lists them
// in batch order. Deterministic.
ChatRequest build_chat_request(const OpenAiOptions& options, const boost::json::object& statistics,
                               std::span<const NewEvent> events);

// A successful answer, read and checked.
struct ChatReply {
  InsightContent content;
  TokenUsage usage;
  std::optional<std::string> model;  // as the server names it
};

// Reads a 2xx body: the first choice's message must hold JSON that passes
// parse_insight_content and check_grounded against `statistics`. Anything else
// (not JSON, no choices, a refusal, a reply cut at the token limit, a schema
// violation, a figure not in the statistics) is kInvalidReply, not retryable.
std::variant<ChatReply, AnalysisError> parse_chat_reply(std::string_view body,
                                                        const boost::json::object& statistics);

// Classifies a non-2xx answer: 401/403 auth (not retryable); 429 rate limited
// and 5xx server error (retryable, with Retry-After when given); 408 timeout
// (retryable); anything else a bad request (not retryable). The message
// carries the server's own error message, cut short and with `api_key` masked.
AnalysisError classify_http_error(int status, std::string_view body,
                                  std::optional<std::string_view> retry_after, Timestamp now,
                                  std::string_view api_key);

// Retry-After as seconds ("30") or an HTTP date ("Wed, 21 Oct 2026 07:28:00
// GMT", counted from `now`, never negative); nullopt when unreadable.
std::optional<Millis> parse_retry_after(std::string_view value, Timestamp now);

// `text` with every occurrence of `secret` and anything shaped like an OpenAI
// key ("sk-…") replaced by "***": servers echo keys in their error messages.
std::string redact_secret(std::string_view text, std::string_view secret);

}  // namespace insightd::analysis
