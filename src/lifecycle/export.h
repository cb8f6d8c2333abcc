// `insightd export`: events in order of receipt, hot and archived alike, as
// JSON lines (one user:event object each, with receivedAt) or CSV (a header
// row, RFC 4180 quoting, the metadata as a JSON column). Works batch by batch
// (batch ids sort by creation; within a batch by receipt), so its memory is
// one batch, whatever the number of events.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "core/result.h"
#include "core/time.h"
#include "store/store.h"

namespace insightd::lifecycle {

struct ExportOptions {
  std::optional<Timestamp> from;  // received at or after
  std::optional<Timestamp> to;    // received before
  std::optional<std::string> type;
  enum class Format { kJsonl, kCsv } format = Format::kJsonl;
};

struct ExportSummary {
  int64_t events = 0;
  int64_t batches = 0;
  int64_t archived_batches = 0;
};

// Writes the events to `out`; `progress` hears the running count (after each
// batch). A batch whose archive is corrupt fails the export with its error.
Result<ExportSummary> export_events(store::Store& store, const ExportOptions& options,
                                    std::ostream& out,
                                    const std::function<void(int64_t)>& progress = {});

// One event as an export line (without the newline), for tests.
std::string export_line(const StoredEvent& e, ExportOptions::Format format);
// The CSV header row (without the newline).
std::string csv_header();

}  // namespace insightd::lifecycle
