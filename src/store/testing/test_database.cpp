#include "store/testing/test_database.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/ids.h"
#include "store/postgres/pg_connection.h"

namespace insightd::store::testing {
namespace {

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A new unique name, good for a schema or a folder.
std::string unique_name(std::string_view prefix) {
  return lowercase(new_id(prefix));
}

}  // namespace

bool testing_postgres() {
  const char* backend = std::getenv("INSIGHTD_TEST_BACKEND");
  return backend != nullptr && std::string_view(backend) == "postgresql";
}

std::unique_ptr<TestDatabase> TestDatabase::create() {
  std::unique_ptr<TestDatabase> db(new TestDatabase());
  if (testing_postgres()) {
    const char* base = std::getenv("INSIGHTD_TEST_PG_URL");
    if (base == nullptr || *base == '\0') {
      ADD_FAILURE() << "INSIGHTD_TEST_PG_URL is not set: the PostgreSQL contract tests need a "
                       "server (scripts/test starts one)";
      return nullptr;
    }
    db->postgres_ = true;
    db->cleanup_ = unique_name("t");
    {
      auto admin = open_postgres(base);
      if (!admin) {
        ADD_FAILURE() << admin.error().message;
        return nullptr;
      }
      if (Status s = (*admin)->execute_script(fmt::format("CREATE SCHEMA {}", db->cleanup_)); !s) {
        ADD_FAILURE() << s.message();
        return nullptr;
      }
    }
    const std::string url(base);
    db->url_ = url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
               db->cleanup_;
  } else {
    const auto dir = std::filesystem::temp_directory_path() / unique_name("insightd-test");
    std::filesystem::create_directories(dir);
    db->cleanup_ = dir.string();
    db->url_ = "sqlite://" + (dir / "test.db").string();
  }
  auto opened = open_store(db->url_, StoreOptions{});
  if (!opened) {
    ADD_FAILURE() << opened.error().message;
    return nullptr;
  }
  db->opened_ = std::move(opened).value();
  auto applied = migrate_up(*db->opened_.pool, SystemClock::instance());
  if (!applied) {
    ADD_FAILURE() << applied.error().message;
    return nullptr;
  }
  return db;
}

OpenedStore TestDatabase::open_another() const {
  auto opened = open_store(url_, StoreOptions{});
  EXPECT_TRUE(opened.is_ok());
  return std::move(opened).value();
}

TestDatabase::~TestDatabase() {
  opened_.store.reset();
  opened_.pool.reset();
  if (postgres_) {
    if (auto admin = open_postgres(std::getenv("INSIGHTD_TEST_PG_URL"))) {
      (void)(*admin)->execute_script(fmt::format("DROP SCHEMA IF EXISTS {} CASCADE", cleanup_));
    }
  } else if (!cleanup_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(cleanup_, ec);
  }
}

}  // namespace insightd::store::testing
