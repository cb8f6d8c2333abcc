#include "store/sqlite/write_gate.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace insightd::store {
namespace {

using namespace std::chrono_literals;

// Threads that queue at a gate in a known order and record when they get it.
class GateOrder {
 public:
  explicit GateOrder(WriteGate& gate) : gate_(gate) {}
  ~GateOrder() {
    for (auto& t : threads_) t.join();
  }
  // Starts a writer and returns once it waits at the gate.
  void queue(std::string name, WritePriority priority) {
    const size_t before = gate_.waiters();
    threads_.emplace_back([this, name, priority] {
      ASSERT_TRUE(gate_.acquire(priority, 10s).is_ok());
      {
        std::lock_guard lock(mu_);
        order_.push_back(name);
      }
      gate_.release();
    });
    while (gate_.waiters() == before) std::this_thread::yield();
  }
  std::vector<std::string> order() {
    for (auto& t : threads_) t.join();
    threads_.clear();
    std::lock_guard lock(mu_);
    return order_;
  }

 private:
  WriteGate& gate_;
  std::mutex mu_;
  std::vector<std::string> order_;
  std::vector<std::thread> threads_;
};

TEST(WriteGate, AFreeGateIsTakenAtOnce) {
  WriteGate gate;
  ASSERT_TRUE(gate.acquire(WritePriority::kBackground, 1ms).is_ok());
  gate.release();
  ASSERT_TRUE(gate.acquire(WritePriority::kIngest, 1ms).is_ok());
  gate.release();
}

TEST(WriteGate, IngestionGoesNextAndTurnsAlternateWhileBothWait) {
  WriteGate gate;
  ASSERT_TRUE(gate.acquire(WritePriority::kBackground, 1s).is_ok());  // a worker holds it
  GateOrder writers(gate);
  writers.queue("b1", WritePriority::kBackground);
  writers.queue("b2", WritePriority::kBackground);
  writers.queue("b3", WritePriority::kBackground);
  writers.queue("i1", WritePriority::kIngest);
  writers.queue("i2", WritePriority::kIngest);
  gate.release();
  // Ingestion first (the holder was a worker), then alternating, each kind in
  // the order it came; the rest of one kind when the other has none left.
  EXPECT_EQ(writers.order(), (std::vector<std::string>{"i1", "b1", "i2", "b2", "b3"}));
}

TEST(WriteGate, OneKindAloneIsServedFirstComeFirstServed) {
  WriteGate gate;
  ASSERT_TRUE(gate.acquire(WritePriority::kIngest, 1s).is_ok());
  GateOrder writers(gate);
  writers.queue("b1", WritePriority::kBackground);
  writers.queue("b2", WritePriority::kBackground);
  writers.queue("b3", WritePriority::kBackground);
  gate.release();
  EXPECT_EQ(writers.order(), (std::vector<std::string>{"b1", "b2", "b3"}));
}

TEST(WriteGate, AWaiterThatGivesUpLeavesTheQueue) {
  WriteGate gate;
  ASSERT_TRUE(gate.acquire(WritePriority::kBackground, 1s).is_ok());
  std::thread impatient([&] {
    Status s = gate.acquire(WritePriority::kIngest, 30ms);
    EXPECT_FALSE(s.is_ok());
    EXPECT_EQ(s.code(), ErrorCode::kUnavailable);
  });
  impatient.join();
  gate.release();
  // Nobody is left waiting: the gate is free again.
  ASSERT_TRUE(gate.acquire(WritePriority::kBackground, 1ms).is_ok());
  gate.release();
}

TEST(WriteGate, TakingItTwiceOnOneThreadIsRefusedNotADeadlock) {
  WriteGate gate;
  ASSERT_TRUE(gate.acquire(WritePriority::kBackground, 1s).is_ok());
  Status again = gate.acquire(WritePriority::kBackground, 10s);
  EXPECT_EQ(again.code(), ErrorCode::kInternal);
  gate.release();
}

TEST(WriteGate, OneGatePerFile) {
  auto a = WriteGate::for_file("/tmp/one.db");
  auto b = WriteGate::for_file("/tmp/one.db");
  auto c = WriteGate::for_file("/tmp/other.db");
  EXPECT_EQ(a.get(), b.get());
  EXPECT_NE(a.get(), c.get());
}

}  // namespace
}  // namespace insightd::store
