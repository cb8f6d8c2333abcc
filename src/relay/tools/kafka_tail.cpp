// kafka-tail BOOTSTRAP [PREFIX] [SECONDS] [COUNT]: prints every message of the
// relay's topics (${PREFIX}batches and ${PREFIX}breaker, PREFIX default
// "insightd.", from the first offset) as one JSON line each, for SECONDS
// (default: until interrupted) or until COUNT messages: topic, partition,
// offset, key, the outbox-id and kind headers, and the payload.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "relay/testing/mock_cluster.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: kafka-tail BOOTSTRAP [TOPIC_PREFIX] [SECONDS] [COUNT]\n", stderr);
    return 2;
  }
  const std::string prefix = argc > 2 ? argv[2] : "insightd.";
  const long seconds = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 365L * 24 * 3600;
  const long count = argc > 4 ? std::strtol(argv[4], nullptr, 10) : -1;
  long printed = 0;
  insightd::relay::testing::consume_each(
      argv[1], {prefix + "batches", prefix + "breaker"}, 16, std::chrono::seconds(seconds),
      [&](const insightd::relay::testing::Received& m) {
        boost::json::object line;
        line["topic"] = m.topic;
        line["partition"] = m.partition;
        line["offset"] = m.offset;
        line["key"] = m.key;
        boost::json::object headers;
        for (const auto& [name, value] : m.headers) headers[name] = value;
        line["headers"] = std::move(headers);
        boost::system::error_code ec;
        boost::json::value payload = boost::json::parse(m.value, ec);
        line["payload"] = ec ? boost::json::value(m.value) : payload;
        fmt::print("{}\n", boost::json::serialize(line));
        std::fflush(stdout);
        return count < 0 || ++printed < count;
      });
  return 0;
}
