// `insightd import`: JSON lines of user:event objects (what `insightd export`
// writes, or any such file) into the event log through live ingestion's own
// path: each line validated like a live event, the valid ones handed to the
// group-commit writer in pieces (so deduplication by eventId, batching,
// sealing and the jobs are exactly live ingestion's). A bad line never stops
// the import: it is counted and reported with its line number and reason.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "ingest/group_commit_writer.h"

namespace insightd::lifecycle {

// The longest line read; a longer one is rejected whole (never held in memory).
inline constexpr size_t kMaxImportLine = size_t{64} * 1024;

struct ImportSummary {
  int64_t lines = 0;  // non-empty lines read
  int64_t accepted = 0;
  int64_t duplicates = 0;
  int64_t rejected = 0;
};

// One rejected line: its number (from 1), the reason's code and text, the
// eventId when one could be read, and the line itself (empty when too long).
struct RejectedLine {
  int64_t line = 0;
  std::string code;
  std::string reason;
  std::string event_id;
  std::string text;
};

struct ImportOptions {
  size_t events_per_submission = 1'000;
  size_t submissions_in_flight = 4;
};

// Reads `in` to its end. `rejected` hears each bad line; `progress` the lines
// read so far. Fails only when the database does (then what was acknowledged
// so far is stored, and importing the file again adds nothing twice).
Result<ImportSummary> import_events(std::istream& in, ingest::GroupCommitWriter& writer,
                                    const Clock& clock, const ImportOptions& options,
                                    const std::function<void(const RejectedLine&)>& rejected,
                                    const std::function<void(int64_t)>& progress = {});

}  // namespace insightd::lifecycle
