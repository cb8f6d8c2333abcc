// The fake OpenAI-compatible server (src/analysis/fake_openai_server.h) as a
// process of its own, for the end-to-end tests that run insightd against it.
//
//   fake-openai-server KEY MODEL ANSWER
//
// Prints "Listening on <base URL>" once it serves, then "requests N" each time
// a request arrives (with the time, for matching against breaker changes).
// Reads commands on stdin, one per line: "answer ANSWER" switches the answer
// (valid, slow, unauthorized, rate-limited, server-error, not-json), "release"
// lets held slow answers go. Exits when stdin closes.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "analysis/testing/fake_openai_server.h"
#include "core/time.h"

namespace {

using insightd::analysis::testing::FakeOpenAiServer;

std::optional<FakeOpenAiServer::Answer> parse_answer(const std::string& name) {
  static const std::map<std::string, FakeOpenAiServer::Answer> kAnswers = {
      {"valid", FakeOpenAiServer::Answer::kValidInsight},
      {"slow", FakeOpenAiServer::Answer::kSlow},
      {"unauthorized", FakeOpenAiServer::Answer::kUnauthorized},
      {"rate-limited", FakeOpenAiServer::Answer::kRateLimited},
      {"server-error", FakeOpenAiServer::Answer::kServerError},
      {"not-json", FakeOpenAiServer::Answer::kContentNotJson},
  };
  auto it = kAnswers.find(name);
  if (it == kAnswers.end()) return std::nullopt;
  return it->second;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 || !parse_answer(argv[3])) {
    std::cerr << "usage: fake-openai-server KEY MODEL "
                 "valid|slow|unauthorized|rate-limited|server-error|not-json\n";
    return 2;
  }
  FakeOpenAiServer server(argv[1], argv[2]);
  server.answer(*parse_answer(argv[3]));
  fmt::print("Listening on {}\n", server.base_url());
  std::fflush(stdout);

  // Reports arrivals from a thread of its own: the server counts them, this
  // turns each new count into a line the test can wait for.
  std::atomic<bool> done{false};
  std::thread reporter([&] {
    int seen = 0;
    while (!done.load()) {
      const int now = server.requests();
      for (; seen < now; ++seen) {
        fmt::print("requests {} at {}\n", seen + 1,
                   insightd::format_timestamp(insightd::SystemClock::instance().now()));
        std::fflush(stdout);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.rfind("answer ", 0) == 0) {
      if (auto a = parse_answer(line.substr(7))) {
        server.answer(*a);
        fmt::print("answer set\n");
      } else {
        fmt::print("unknown answer\n");
      }
    } else if (line == "release") {
      server.release_slow();
      fmt::print("released\n");
    }
    std::fflush(stdout);
  }
  done = true;
  reporter.join();
  return 0;
}
