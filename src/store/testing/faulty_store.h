// A Store for tests that forwards every call to a real one and lets the test
// decide what happens to any method ("jobs.claim", "events.append", ...):
// fail its N-th call, fail every call until healed, or hold calls at a gate
// until the test opens it. Every returned call is counted, and a test waits
// for the state it expects (checked again after each call) instead of
// sleeping or polling. Several FaultyStores ("processes" on one database) may
// share one StoreFaults.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "store/store.h"

namespace insightd::store::testing {

class StoreFaults {
 public:
  // The `n`-th call of `method` from now on (1: the next) returns `error`
  // without reaching the database.
  void fail_call(const std::string& method, int n, Error error);
  // Every call of `method` returns `error` until heal(method).
  void fail_every(const std::string& method, Error error);
  void heal(const std::string& method);
  // Calls of `method` wait at a closed gate until open(method).
  void hold(const std::string& method);
  void open(const std::string& method);
  // Waits until `n` calls of `method` wait at its gate.
  bool wait_held(const std::string& method, int n,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // How many calls of `method` have returned (failed ones included).
  int count(const std::string& method);
  // Waits until `pred` holds, checking it at once and after every returned call.
  // `timeout` is real time, a safety net for a hung test: one that passes
  // never reaches it.
  bool wait_until(const std::function<bool()>& pred,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // For FaultyStore: runs before the call (waits at the gate; an injected
  // error ends the call) and after it.
  std::optional<Error> before(const char* method);
  void after(const char* method);

 private:
  struct Plan {
    std::optional<Error> every;
    std::map<int, Error> nth;  // by call number (1-based, counted by before())
    int started = 0;
    bool gated = false;
    int waiting = 0;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t returned_ = 0;
  std::map<std::string, Plan, std::less<>> plans_;
  std::map<std::string, int, std::less<>> counts_;
};

class FaultyStore final : public Store {
 public:
  FaultyStore(Store& inner, StoreFaults& faults);
  ~FaultyStore() override;

  EventStore& events() override;
  BatchStore& batches() override;
  JobStore& jobs() override;
  InsightStore& insights() override;
  DeadLetterStore& dead_letters() override;
  OutboxStore& outbox() override;
  BreakerStore& breakers() override;
  ArchiveStore& archive() override;
  std::string_view backend() const override { return inner_.backend(); }
  Status ping() override;

 private:
  struct Repositories;
  Store& inner_;
  StoreFaults& faults_;
  std::unique_ptr<Repositories> repositories_;
};

}  // namespace insightd::store::testing
