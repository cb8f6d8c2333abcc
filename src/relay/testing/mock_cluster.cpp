#include "relay/testing/mock_cluster.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <array>
#include <stdexcept>

namespace insightd::relay::testing {

// The Kafka protocol's ApiKey of Produce requests (the mock's header does not name it).
constexpr int16_t kProduceApiKey = 0;

MockCluster::MockCluster(int brokers) : brokers_(brokers) {
  std::array<char, 512> err{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "0", err.data(), err.size());
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err.data(), err.size());
  if (rk_ == nullptr) throw std::runtime_error(fmt::format("mock cluster handle: {}", err.data()));
  cluster_ = rd_kafka_mock_cluster_new(rk_, brokers);
  if (cluster_ == nullptr) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
  bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
}

MockCluster::~MockCluster() {
  if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
  if (rk_ != nullptr) rd_kafka_destroy(rk_);
}

void MockCluster::create_topic(const std::string& topic, int partitions) {
  const int replication = brokers_ < 3 ? brokers_ : 3;
  if (rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, replication) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("rd_kafka_mock_topic_create failed");
  }
}

void MockCluster::set_all_down(bool down) {
  for (int id = 1; id <= brokers_; ++id) {
    if (down) {
      rd_kafka_mock_broker_set_down(cluster_, id);
    } else {
      rd_kafka_mock_broker_set_up(cluster_, id);
    }
  }
}

void MockCluster::set_round_trip(std::chrono::milliseconds rtt) {
  for (int id = 1; id <= brokers_; ++id) {
    rd_kafka_mock_broker_set_rtt(cluster_, id, static_cast<int>(rtt.count()));
  }
}

void MockCluster::fail_next_produce_requests(const std::vector<int>& errors) {
  std::vector<rd_kafka_resp_err_t> codes;
  codes.reserve(errors.size());
  for (const int e : errors) codes.push_back(static_cast<rd_kafka_resp_err_t>(e));
  rd_kafka_mock_push_request_errors_array(cluster_, kProduceApiKey, codes.size(), codes.data());
}

std::vector<Received> consume(const std::string& bootstraps, const std::vector<std::string>& topics,
                              int partitions, size_t count, std::chrono::milliseconds timeout) {
  std::vector<Received> out;
  if (count == 0) return out;
  consume_each(bootstraps, topics, partitions, timeout, [&](const Received& r) {
    out.push_back(r);
    return out.size() < count;
  });
  return out;
}

void consume_each(const std::string& bootstraps, const std::vector<std::string>& topics,
                  int partitions, std::chrono::milliseconds timeout,
                  const std::function<bool(const Received&)>& each) {
  std::array<char, 512> err{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps.c_str(), err.data(), err.size());
  rd_kafka_conf_set(conf, "group.id", "insightd-test-reader", err.data(), err.size());
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err.data(), err.size());
  rd_kafka_conf_set(conf, "log_level", "0", err.data(), err.size());
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err.data(), err.size());
  if (rk == nullptr) throw std::runtime_error(fmt::format("consumer: {}", err.data()));
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(8);
  for (const std::string& t : topics) {
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_add(parts, t.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool more = true;
  while (more && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Received r;
      r.topic = rd_kafka_topic_name(m->rkt);
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          r.headers[name] = std::string(static_cast<const char*>(value), size);
        }
      }
      more = each(r);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

std::map<std::string, int64_t> end_offsets(const std::string& bootstraps,
                                           const std::vector<std::string>& topics, int partitions) {
  std::array<char, 512> err{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps.c_str(), err.data(), err.size());
  rd_kafka_conf_set(conf, "log_level", "0", err.data(), err.size());
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err.data(), err.size());
  if (rk == nullptr) throw std::runtime_error(fmt::format("consumer: {}", err.data()));
  std::map<std::string, int64_t> ends;
  for (const std::string& t : topics) {
    for (int p = 0; p < partitions; ++p) {
      int64_t low = 0;
      int64_t high = 0;
      // A missing topic or partition answers an error: nothing to read there.
      if (rd_kafka_query_watermark_offsets(rk, t.c_str(), p, &low, &high, 5000) ==
              RD_KAFKA_RESP_ERR_NO_ERROR &&
          high > low) {
        ends[fmt::format("{}/{}", t, p)] = high;
      }
    }
  }
  rd_kafka_destroy(rk);
  return ends;
}

}  // namespace insightd::relay::testing
