// The one-shot subcommands: each opens the database, does one thing, prints
// what it did and returns the exit code (app/exit_codes.h). The long-running
// modes (the all-in-one default, `serve`, `work`) are app/server.h.
#pragma once

#include <cstddef>
#include <string>

#include "app/config.h"

namespace insightd::app {

// `insightd migrate [up]` applies the pending migrations; `migrate status`
// (status_only) lists applied and pending ones.
int run_migrate(const Config& config, bool status_only);

// `insightd seal`: seals the OPEN batch now if it holds events.
int run_seal(const Config& config);

// `insightd analyze BATCH`: a manual analysis job for a SEALED or ANALYZED batch.
int run_analyze(const Config& config, const std::string& batch_id);

// `insightd dlq list|retry ID|discard ID`.
enum class DlqAction { kList, kRetry, kDiscard };
struct DlqCommand {
  DlqAction action = DlqAction::kList;
  std::string id;     // retry, discard
  size_t limit = 50;  // list
  bool json = false;  // list
};
int run_dlq(const Config& config, const DlqCommand& command);

// `insightd archive [--dry-run] [--sealed-before TIME]`: one archiver pass now
// (ARCHIVE_AFTER_DAYS, or the batches sealed before TIME), printing each batch
// moved; --dry-run lists what would move and changes nothing.
int run_archive(const Config& config, bool dry_run, const std::string& sealed_before);

// `insightd restore BATCH`: puts an archived batch's events back into "Event".
int run_restore(const Config& config, const std::string& batch_id);

// `insightd export [--from TIME] [--to TIME] [--type TYPE] [--format jsonl|csv]
// [--output FILE]`: events in order of receipt, hot and archived alike.
struct ExportCommand {
  std::string from;  // RFC 3339, "" for unbounded
  std::string to;
  std::string type;
  std::string format = "jsonl";
  std::string output;  // "" or "-": stdout
};
int run_export(const Config& config, const ExportCommand& command);

// `insightd import FILE|- [--rejected FILE]`: JSON lines of events through
// live ingestion's validation, deduplication and group commit. Exit 0 when
// every line was stored or a duplicate, kExitSomeRejected when some were
// rejected (written to FILE.rejected.jsonl with their line numbers).
int run_import(const Config& config, const std::string& input, const std::string& rejected_path);

// `insightd insight --from FILE [--analyzer builtin|openai]`: analyzes a file
// of events as one batch, no database involved.
int run_insight(const Config& config, const std::string& from_path, const std::string& analyzer);

}  // namespace insightd::app
