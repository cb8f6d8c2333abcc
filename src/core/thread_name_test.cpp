#include "core/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <memory>
#include <string>
#include <thread>

namespace insightd {
namespace {

std::string name_of_this_thread() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

TEST(ThreadName, NamesTheCallingThreadAndKeepsFifteenCharacters) {
  std::string short_name;
  std::string long_name;
  std::thread([&] {
    name_this_thread("ingest-commit");
    short_name = name_of_this_thread();
    name_this_thread("a-name-longer-than-fifteen");
    long_name = name_of_this_thread();
  }).join();
  EXPECT_EQ(short_name, "ingest-commit");
  EXPECT_EQ(long_name, "a-name-longer-t");
}

TEST(ThreadName, AStartedThreadRunsItsWorkUnderItsName) {
  std::string seen;
  auto moved_in = std::make_unique<int>(7);  // work that owns what it captured
  std::thread t =
      start_named_thread("job-executor", [&seen, owned = std::move(moved_in)]() mutable {
        seen = name_of_this_thread() + ":" + std::to_string(*owned);
        owned.reset();
      });
  t.join();
  EXPECT_EQ(seen, "job-executor:7");
}

}  // namespace
}  // namespace insightd
