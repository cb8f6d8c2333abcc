// SQLite has one write lock per database file, and its busy handler (sleep and
// retry) is not fair: whoever retries at the right moment wins. When the
// analysis workers drain a backlog, their many small write transactions took
// the lock away from the group-commit writer for most of a second.
//
// A WriteGate is the one queue in front of that lock for every connection of
// this process on one file: a connection takes the gate before it writes
// (BEGIN IMMEDIATE, or a writing statement outside a transaction) and gives it
// back as soon as SQLite is out of the transaction. Waiters are served first
// come, first served within their priority; when both priorities wait, turns
// alternate, and the gate passes straight from the holder to the next waiter
// (nobody can slip in between).
//
// Bound: ingestion (one writer thread, WritePriority::kIngest) waits behind at
// most one background write transaction. A background writer waits at most
// (k + 1) × (one ingestion commit + one background transaction), with k the
// background writers queued ahead of it (fewer than the pool's connections):
// the workers are never starved. Other processes on the same file (`insightd
// migrate`, a sqlite3 shell) still meet SQLite's busy handler.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "core/result.h"
#include "core/time.h"
#include "store/sql.h"

namespace insightd::store {

class WriteGate {
 public:
  // The gate of one database file (SQLite's full path name), shared by every
  // connection of this process on it; made on first use.
  static std::shared_ptr<WriteGate> for_file(const std::string& path);

  // Waits for the gate; kUnavailable after `timeout`, kInternal when this
  // thread holds it already (a second write connection on the same file from
  // one thread would wait for itself).
  Status acquire(WritePriority priority, Millis timeout);
  void release();
  // How many writers wait for it now.
  size_t waiters();

  WriteGate() = default;
  WriteGate(const WriteGate&) = delete;
  WriteGate& operator=(const WriteGate&) = delete;

 private:
  struct Waiter {
    std::condition_variable cv;
    bool granted = false;
  };
  static size_t index(WritePriority p) { return p == WritePriority::kIngest ? 1 : 0; }

  std::mutex mu_;
  bool held_ = false;  // invariant: not held => nobody waits
  WritePriority last_ = WritePriority::kBackground;
  std::deque<Waiter*> waiting_[2];  // by index(priority), first come first
};

}  // namespace insightd::store
