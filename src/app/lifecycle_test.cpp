#include "app/lifecycle.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace insightd::app {
namespace {

// Fake components that write "start X" / "stop X" into one journal and fail
// to start on demand.
class Journal {
 public:
  Lifecycle::Stage stage(const std::string& name, int stop_at) {
    return Lifecycle::Stage{.stop_at = stop_at,
                            .start = [this, name]() -> Status {
                              entries.push_back("start " + name);
                              if (failing.contains(name)) {
                                return make_error(ErrorCode::kUnavailable, name + " failed");
                              }
                              return Status::ok();
                            },
                            .stop = [this, name] { entries.push_back("stop " + name); }};
  }

  std::vector<std::string> entries;
  std::set<std::string> failing;
};

using Entries = std::vector<std::string>;

// A server's table: started top to bottom, stopped by the second column.
void add_server_stages(Lifecycle& lifecycle, Journal& journal) {
  lifecycle.add(journal.stage("writer", 5));
  lifecycle.add(journal.stage("io", 3));
  lifecycle.add(journal.stage("http", 1));
  lifecycle.add(journal.stage("sealer", 4));
  lifecycle.add(journal.stage("live", 2));
  lifecycle.add(journal.stage("workers", 6));
}

// What add_server_stages() records from start to stop: the server's orders.
// NOLINTNEXTLINE(cert-err58-cpp): only allocation can throw here, before any test runs
const Entries kServerRun{"start writer", "start io",      "start http",  "start sealer",
                         "start live",   "start workers", "stop http",   "stop live",
                         "stop io",      "stop sealer",   "stop writer", "stop workers"};

TEST(Lifecycle, StartsInTableOrderAndStopsByStopAt) {
  Journal journal;
  Lifecycle lifecycle;
  add_server_stages(lifecycle, journal);
  ASSERT_TRUE(lifecycle.start());
  lifecycle.stop();
  EXPECT_EQ(journal.entries, kServerRun);
}

TEST(Lifecycle, StopAtMayMirrorTheStartOrder) {
  Journal journal;
  Lifecycle lifecycle;
  lifecycle.add(journal.stage("a", 3));
  lifecycle.add(journal.stage("b", 2));
  lifecycle.add(journal.stage("c", 1));
  ASSERT_TRUE(lifecycle.start());
  lifecycle.stop();
  EXPECT_EQ(journal.entries,
            (Entries{"start a", "start b", "start c", "stop c", "stop b", "stop a"}));
}

TEST(Lifecycle, AFailedStartStopsWhatStartedAndNotTheRest) {
  Journal journal;
  journal.failing = {"workers"};
  Lifecycle lifecycle;
  add_server_stages(lifecycle, journal);
  Status s = lifecycle.start();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(s.message(), "workers failed");
  EXPECT_EQ(journal.entries, (Entries{"start writer", "start io", "start http", "start sealer",
                                      "start live", "start workers", "stop http", "stop live",
                                      "stop io", "stop sealer", "stop writer"}));
}

TEST(Lifecycle, AFailureInTheMiddleNeverStartsTheLaterStages) {
  Journal journal;
  journal.failing = {"http"};
  Lifecycle lifecycle;
  add_server_stages(lifecycle, journal);
  ASSERT_FALSE(lifecycle.start());
  EXPECT_EQ(journal.entries,
            (Entries{"start writer", "start io", "start http", "stop io", "stop writer"}));
}

TEST(Lifecycle, AFailingFirstStageStopsNothing) {
  Journal journal;
  journal.failing = {"writer"};
  Lifecycle lifecycle;
  add_server_stages(lifecycle, journal);
  ASSERT_FALSE(lifecycle.start());
  EXPECT_EQ(journal.entries, (Entries{"start writer"}));
}

TEST(Lifecycle, StopsOnceHoweverOftenAsked) {
  Journal journal;
  {
    Lifecycle lifecycle;
    lifecycle.add(journal.stage("a", 2));
    lifecycle.add(journal.stage("b", 1));
    ASSERT_TRUE(lifecycle.start());
    lifecycle.stop();
    lifecycle.stop();
  }  // and the destructor
  EXPECT_EQ(journal.entries, (Entries{"start a", "start b", "stop b", "stop a"}));
}

TEST(Lifecycle, AFailedStartIsNotUnwoundTwice) {
  Journal journal;
  journal.failing = {"b"};
  {
    Lifecycle lifecycle;
    lifecycle.add(journal.stage("a", 1));
    lifecycle.add(journal.stage("b", 2));
    ASSERT_FALSE(lifecycle.start());
    lifecycle.stop();
  }
  EXPECT_EQ(journal.entries, (Entries{"start a", "start b", "stop a"}));
}

TEST(Lifecycle, TheDestructorStopsWhatIsStarted) {
  Journal journal;
  {
    Lifecycle lifecycle;
    add_server_stages(lifecycle, journal);
    ASSERT_TRUE(lifecycle.start());
  }
  EXPECT_EQ(journal.entries, kServerRun);
}

TEST(Lifecycle, NeverStartedStopsNothing) {
  Journal journal;
  {
    Lifecycle lifecycle;
    lifecycle.add(journal.stage("a", 1));
    lifecycle.stop();
  }
  EXPECT_TRUE(journal.entries.empty());
}

TEST(Lifecycle, AnEmptyTableStarts) {
  Lifecycle lifecycle;
  EXPECT_TRUE(lifecycle.start());
  lifecycle.stop();
}

}  // namespace
}  // namespace insightd::app
