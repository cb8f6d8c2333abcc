// kafka-mock [--steer] [BROKERS]: starts librdkafka's mock Kafka cluster (the
// real protocol on local ports, topics created on first use), prints its
// bootstrap address on one line, and runs until SIGINT or SIGTERM. For trying
// the outbox relay without a broker: KAFKA_BROKERS=<that line>.
// With --steer, lines on stdin steer it (the end-to-end tests use them):
// "down" (every broker refuses connections), "up", "fail N CODE" (the next N
// Produce requests answer error CODE), "rtt MS" (every broker answers each
// request MS milliseconds late, 0 for none); each is answered with "<command> ok",
// and the end of the input stops it.
#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "relay/testing/mock_cluster.h"

namespace {

// Reads commands until the input ends, then raises SIGTERM for the main thread.
void steer(insightd::relay::testing::MockCluster& cluster) {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    in >> command;
    if (command == "down" || command == "up") {
      cluster.set_all_down(command == "down");
    } else if (command == "fail") {
      int n = 0;
      int code = 0;
      if (!(in >> n >> code) || n < 1 || n > 10'000) {
        fmt::print(stderr, "kafka-mock: usage: fail N(1-10000) ERROR_CODE\n");
        continue;
      }
      cluster.fail_next_produce_requests(std::vector<int>(static_cast<size_t>(n), code));
    } else if (command == "rtt") {
      int ms = -1;
      if (!(in >> ms) || ms < 0 || ms > 60'000) {
        fmt::print(stderr, "kafka-mock: usage: rtt MS(0-60000)\n");
        continue;
      }
      cluster.set_round_trip(std::chrono::milliseconds(ms));
    } else {
      fmt::print(stderr, "kafka-mock: unknown command '{}'\n", command);
      continue;
    }
    fmt::print("{} ok\n", command);
    std::fflush(stdout);
  }
  kill(getpid(), SIGTERM);
}

}  // namespace

int main(int argc, char** argv) {
  const bool steered = argc > 1 && std::string(argv[1]) == "--steer";
  const int first = steered ? 2 : 1;
  const long brokers = argc > first ? std::strtol(argv[first], nullptr, 10) : 3;
  if (brokers < 1 || brokers > 9) {
    std::fputs("usage: kafka-mock [--steer] [BROKERS 1-9]\n", stderr);
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any other thread starts
  try {
    insightd::relay::testing::MockCluster cluster(static_cast<int>(brokers));
    fmt::print("{}\n", cluster.bootstraps());
    std::fflush(stdout);
    if (steered) std::thread(steer, std::ref(cluster)).detach();
    int sig = 0;
    sigwait(&set, &sig);
  } catch (const std::exception& e) {
    fmt::print(stderr, "kafka-mock: {}\n", e.what());
    return 1;
  }
  std::_Exit(0);  // the steering thread may still be reading
}
