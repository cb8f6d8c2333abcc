#include "app/database.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "core/time.h"
#include "store/migrations.h"

namespace insightd::app {

std::string store_url(const Config& c) {
  return c.database_kind == DatabaseKind::kPostgres ? c.database_url : "sqlite://" + c.sqlite_path;
}

Result<store::OpenedStore> open_and_migrate(const Config& config) {
  auto opened = store::open_store(store_url(config), store::StoreOptions{});
  if (!opened) return opened.error();
  constexpr int kAttempts = 15;
  for (int attempt = 1;; ++attempt) {
    auto applied = store::migrate_up(*opened->pool, SystemClock::instance());
    if (applied) {
      for (const auto& m : *applied) {
        spdlog::info("[Migrate] Applied migration {:04d}_{}", m.version, m.name);
      }
      break;
    }
    if (applied.code() != ErrorCode::kUnavailable || attempt == kAttempts) return applied.error();
    spdlog::warn("[Startup] Database not reachable ({}); retrying in 1 s ({}/{})",
                 applied.error().message, attempt, kAttempts);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return opened;
}

store::BatchPolicy batch_policy(const Config& c) {
  return store::BatchPolicy{.max_events = c.batch_max_events, .max_attempts = c.max_attempts};
}

}  // namespace insightd::app
