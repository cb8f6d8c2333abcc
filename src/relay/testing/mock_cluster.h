// Test support for the relay: librdkafka's mock cluster, which speaks the real
// Kafka protocol on local TCP ports (any client can connect to bootstraps()),
// and a consumer that reads topics back from the first offset.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace insightd::relay::testing {

class MockCluster {
 public:
  explicit MockCluster(int brokers = 3);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  const std::string& bootstraps() const { return bootstraps_; }
  int brokers() const { return brokers_; }
  // Creates `topic` with `partitions` (auto-created topics get the mock's default).
  void create_topic(const std::string& topic, int partitions);
  // Every broker down (connections refused) or up again.
  void set_all_down(bool down);
  // Every broker answers each request `rtt` late (0: at once).
  void set_round_trip(std::chrono::milliseconds rtt);
  // The next `errors.size()` Produce requests answer these error codes.
  void fail_next_produce_requests(const std::vector<int>& errors);

 private:
  rd_kafka_s* rk_ = nullptr;
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
  int brokers_ = 0;
  std::string bootstraps_;
};

struct Received {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

// Reads `topics` (partitions 0..partitions-1, from the beginning) until `count`
// messages arrived or `timeout` passed; returns what arrived, in the order
// each partition holds it.
std::vector<Received> consume(const std::string& bootstraps, const std::vector<std::string>& topics,
                              int partitions, size_t count, std::chrono::milliseconds timeout);

// The same, handing each message to `each` as it arrives, until `each` returns
// false or `timeout` passes.
void consume_each(const std::string& bootstraps, const std::vector<std::string>& topics,
                  int partitions, std::chrono::milliseconds timeout,
                  const std::function<bool(const Received&)>& each);

// The offset after the last message of each of `topics`' partitions
// 0..partitions-1 now ("topic/partition" -> offset), leaving out empty and
// missing partitions: what a reader must reach to have read everything
// written so far.
std::map<std::string, int64_t> end_offsets(const std::string& bootstraps,
                                           const std::vector<std::string>& topics, int partitions);

}  // namespace insightd::relay::testing
