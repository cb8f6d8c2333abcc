// kafka-mock [BROKERS]: starts librdkafka's mock Kafka cluster (the real
// protocol on local ports, topics created on first use), prints its bootstrap
// address on one line, and runs until SIGINT or SIGTERM. For trying the outbox
// relay without a broker: KAFKA_BROKERS=<that line> build/insightd.
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "relay/testing/mock_cluster.h"

int main(int argc, char** argv) {
  const long brokers = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 3;
  if (brokers < 1 || brokers > 9) {
    std::fputs("usage: kafka-mock [BROKERS 1-9]\n", stderr);
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before librdkafka's threads start
  try {
    insightd::relay::testing::MockCluster cluster(static_cast<int>(brokers));
    fmt::print("{}\n", cluster.bootstraps());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
  } catch (const std::exception& e) {
    fmt::print(stderr, "kafka-mock: {}\n", e.what());
    return 1;
  }
  return 0;
}
