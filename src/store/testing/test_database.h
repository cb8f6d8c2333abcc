// A fresh, migrated database for one test: a SQLite file in a temporary folder,
// or, when INSIGHTD_TEST_BACKEND=postgresql (the *_pgtest registrations of a
// test binary, see insightd_add_tests), a private schema in the PostgreSQL
// server named by INSIGHTD_TEST_PG_URL, dropped afterwards.
#pragma once

#include <memory>
#include <string>

#include "store/open_store.h"

namespace insightd::store::testing {

// The database the tests of this process run on, from INSIGHTD_TEST_BACKEND.
bool testing_postgres();

class TestDatabase {
 public:
  // Fails the current test (and returns nullptr) when the database is missing.
  static std::unique_ptr<TestDatabase> create();
  ~TestDatabase();

  const std::string& url() const { return url_; }
  Store& store() { return *opened_.store; }
  ConnectionPool& pool() { return *opened_.pool; }
  // A second, independent store on the same database (another "process").
  OpenedStore open_another() const;
  bool is_postgres() const { return postgres_; }

 private:
  TestDatabase() = default;
  std::string url_;
  std::string cleanup_;  // schema (PostgreSQL) or folder (SQLite) to remove
  bool postgres_ = false;
  OpenedStore opened_;
};

}  // namespace insightd::store::testing
