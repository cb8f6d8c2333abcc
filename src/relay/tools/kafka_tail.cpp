// kafka-tail BOOTSTRAP [PREFIX] [SECONDS] [COUNT]: prints every message of the
// relay's topics (${PREFIX}batches and ${PREFIX}breaker, PREFIX default
// "insightd.", from the first offset) as one JSON line each, for SECONDS
// (default: until interrupted) or until COUNT messages: topic, partition,
// offset, key, the outbox-id and kind headers, and the payload. COUNT "end":
// until every partition has been read up to where it ended when kafka-tail
// started (everything written before it, duplicates included).
#include <fmt/format.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "relay/testing/mock_cluster.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: kafka-tail BOOTSTRAP [TOPIC_PREFIX] [SECONDS] [COUNT]\n", stderr);
    return 2;
  }
  const std::string prefix = argc > 2 ? argv[2] : "insightd.";
  const long seconds = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 365L * 24 * 3600;
  const bool to_end = argc > 4 && std::string(argv[4]) == "end";
  const long count = argc > 4 && !to_end ? std::strtol(argv[4], nullptr, 10) : -1;
  const std::vector<std::string> topics{prefix + "batches", prefix + "breaker"};
  constexpr int kPartitions = 16;
  // "topic/partition" -> the offset still to reach (to_end only).
  std::map<std::string, int64_t> ends;
  if (to_end) {
    ends = insightd::relay::testing::end_offsets(argv[1], topics, kPartitions);
    if (ends.empty()) return 0;
  }
  long printed = 0;
  insightd::relay::testing::consume_each(
      argv[1], topics, kPartitions, std::chrono::seconds(seconds),
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
        if (to_end) {
          const auto it = ends.find(fmt::format("{}/{}", m.topic, m.partition));
          if (it != ends.end() && m.offset + 1 >= it->second) ends.erase(it);
          return !ends.empty();
        }
        return count < 0 || ++printed < count;
      });
  return 0;
}
