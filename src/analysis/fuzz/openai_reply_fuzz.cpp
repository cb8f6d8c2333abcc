// libFuzzer target for the OpenAI-compatible server's answers: the first byte
// picks what the rest is.
//   0: a 2xx body for parse_chat_reply;
//   1: the message content alone, wrapped here in a completion, so the fuzzer
//      works on the insight JSON itself;
//   2: an error body for classify_http_error (the status from the next byte).
// Checks: a reply accepted survives to_json -> parse_insight_content unchanged
// and is still grounded in the statistics; a refused one is kInvalidReply, not
// retryable, with a message; an error's message never holds the API key and is
// retryable exactly for 408, 429 and 5xx.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "analysis/openai_protocol.h"
#include "analysis/testing/planted_batches.h"

using namespace insightd;
using namespace insightd::analysis;
namespace json = boost::json;

namespace {

const json::object& statistics() {
  static const auto* stats =
      new json::object(to_json(compute_statistics(planted::checkout_collapse(), {})));
  return *stats;
}

void check_reply(std::string_view body) {
  auto reply = parse_chat_reply(body, statistics());
  if (const auto* error = std::get_if<AnalysisError>(&reply)) {
    if (error->kind != AnalysisErrorKind::kInvalidReply || error->retryable ||
        error->message.empty()) {
      __builtin_trap();
    }
    return;
  }
  const InsightContent& content = std::get<ChatReply>(reply).content;
  const json::object written = to_json(content);
  auto again = parse_insight_content(written);
  if (!again || to_json(*again) != written || !check_grounded(*again, statistics())) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      check_reply(input);
      break;
    case 1: {
      json::object message{{"role", "assistant"}, {"content", input}};
      check_reply(json::serialize(json::object{
          {"choices",
           json::array{json::object{{"message", message}, {"finish_reason", "stop"}}}}}));
      break;
    }
    case 2: {
      constexpr std::string_view kKey = "test-key-Zq8Xr2Lm9P";
      constexpr int kStatuses[] = {400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 301, 418};
      const int status = input.empty() ? 500 : kStatuses[uint8_t(input[0]) % std::size(kStatuses)];
      if (!input.empty()) input.remove_prefix(1);
      const AnalysisError e = classify_http_error(status, input, "5", from_unix_ms(0), kKey);
      const bool retryable = status == 408 || status == 429 || status >= 500;
      if (e.message.empty() || e.message.find(kKey) != std::string::npos ||
          e.retryable != retryable || e.http_status != status) {
        __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
