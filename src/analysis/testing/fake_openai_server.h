// A local stand-in for an OpenAI-compatible Chat Completions server, for tests:
// an insightd HttpServer on 127.0.0.1 and a free port that checks each request
// the way the real API would (bearer key, model, strict JSON-schema response
// format, the statistics in the prompt, the request size) and answers as the
// test tells it to: a valid insight, or one of the faults a real server shows.
#pragma once

#include <atomic>
#include <boost/json/value.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/http_server.h"

namespace insightd::analysis::testing {

class FakeOpenAiServer {
 public:
  enum class Answer {
    kValidInsight,       // 200, an insight that cites the statistics it was sent
    kUngroundedInsight,  // 200, schema-valid but citing a figure not in the statistics
    kSchemaBreaking,     // 200, JSON content without "confidence" and with an extra field
    kContentNotJson,     // 200, message content that is not JSON
    kBodyNotJson,        // 200, a body that is not JSON at all
    kUnauthorized,       // 401 with an OpenAI-style error that echoes the key
    kRateLimited,        // 429 with Retry-After: 7
    kServerError,        // 500
    kSlow,               // a valid insight, but only after 3 s (or release_slow())
  };

  // The request limit the fake enforces, like a server's body limit.
  static constexpr size_t kMaxRequestBytes = size_t{96} * 1024;

  FakeOpenAiServer(std::string api_key, std::string model);
  ~FakeOpenAiServer();

  void answer(Answer a) { answer_.store(a); }
  // "http://127.0.0.1:<port>/v1"
  std::string base_url() const;
  int requests() const { return requests_.load(); }
  // Problems found in the requests so far ("model is x, want y"); empty when all were right.
  std::vector<std::string> problems() const;
  // Forgets the problems so far (for a test that caused them on purpose).
  void clear_problems();
  // The last request body as received.
  boost::json::value last_body() const;
  // Lets a kSlow answer go now (the destructor does too).
  void release_slow();

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::atomic<Answer> answer_{Answer::kValidInsight};
  std::atomic<int> requests_{0};
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace insightd::analysis::testing
