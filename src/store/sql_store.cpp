// The SQL-backed Store: the eight repositories (one file each under src/store,
// made by store/detail/repositories.h) over one connection pool.
#include <memory>

#include "store/detail/repositories.h"
#include "store/detail/rows.h"
#include "store/open_store.h"
#include "store/sql.h"
#include "store/store.h"

namespace insightd::store {
namespace {

class SqlStore final : public Store {
 public:
  explicit SqlStore(std::shared_ptr<ConnectionPool> pool)
      : pool_(std::move(pool)),
        events_(make_event_repository(*pool_)),
        batches_(make_batch_repository(*pool_)),
        jobs_(make_job_repository(*pool_)),
        insights_(make_insight_repository(*pool_)),
        dead_letters_(make_dead_letter_repository(*pool_)),
        outbox_(make_outbox_repository(*pool_)),
        breakers_(make_breaker_repository(*pool_)),
        archive_(make_archive_repository(*pool_)) {}

  EventStore& events() override { return *events_; }
  BatchStore& batches() override { return *batches_; }
  JobStore& jobs() override { return *jobs_; }
  InsightStore& insights() override { return *insights_; }
  DeadLetterStore& dead_letters() override { return *dead_letters_; }
  OutboxStore& outbox() override { return *outbox_; }
  BreakerStore& breakers() override { return *breakers_; }
  ArchiveStore& archive() override { return *archive_; }
  std::string_view backend() const override { return pool_->dialect().name; }

  Status ping() override {
    return detail::fetch(*pool_, "SELECT 1", {}, [](const Rows&) { return true; }).status();
  }

 private:
  std::shared_ptr<ConnectionPool> pool_;  // outlives the repositories below
  std::unique_ptr<EventStore> events_;
  std::unique_ptr<BatchStore> batches_;
  std::unique_ptr<JobStore> jobs_;
  std::unique_ptr<InsightStore> insights_;
  std::unique_ptr<DeadLetterStore> dead_letters_;
  std::unique_ptr<OutboxStore> outbox_;
  std::unique_ptr<BreakerStore> breakers_;
  std::unique_ptr<ArchiveStore> archive_;
};

}  // namespace

std::unique_ptr<Store> make_sql_store(std::shared_ptr<ConnectionPool> pool) {
  return std::make_unique<SqlStore>(std::move(pool));
}

}  // namespace insightd::store
