#include "app/commands.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <tuple>

#include "analysis/insight_command.h"
#include "app/database.h"
#include "app/exit_codes.h"
#include "core/time.h"
#include "ingest/group_commit_writer.h"
#include "lifecycle/archiver.h"
#include "lifecycle/export.h"
#include "lifecycle/import.h"
#include "lifecycle/progress.h"
#include "store/migrations.h"
#include "store/open_store.h"

namespace insightd::app {

int run_analyze(const Config& config, const std::string& batch_id) {
  auto opened = open_and_migrate(config);
  if (!opened) {
    spdlog::error("[Analyze] {}", opened.error().message);
    return kExitFailure;
  }
  auto job = opened->store->jobs().create(batch_id, JobTrigger::kManual, batch_policy(config),
                                          SystemClock::instance().now());
  if (!job) {
    std::string hint;
    if (job.code() == ErrorCode::kIllegalTransition) hint = " (seal it first: insightd seal)";
    std::cerr << fmt::format("insightd analyze: {}{}\n", job.error().message, hint);
    return kExitFailure;
  }
  fmt::print("created job {} for batch {} (manual, {} attempts); a worker picks it up\n",
             job->job_id, job->batch_id, job->max_attempts);
  return kExitOk;
}

int run_dlq(const Config& config, const DlqCommand& command) {
  auto opened = open_and_migrate(config);
  if (!opened) {
    spdlog::error("[Dead Letter] {}", opened.error().message);
    return kExitFailure;
  }
  store::DeadLetterStore& dlq = opened->store->dead_letters();
  const Timestamp now = SystemClock::instance().now();
  const std::string& id = command.id;
  if (command.action == DlqAction::kRetry) {
    auto job = dlq.redrive(id, batch_policy(config), now);
    if (!job) {
      std::cerr << fmt::format("insightd dlq retry: {}\n", job.error().message);
      return kExitFailure;
    }
    fmt::print("redrove {}: created job {} for batch {} with {} fresh attempts\n", id, job->job_id,
               job->batch_id, job->max_attempts);
    return kExitOk;
  }
  if (command.action == DlqAction::kDiscard) {
    if (Status s = dlq.discard(id); !s) {
      std::cerr << fmt::format("insightd dlq discard: {}\n", s.message());
      return kExitFailure;
    }
    fmt::print("discarded {}\n", id);
    return kExitOk;
  }
  auto entries = dlq.list(command.limit);
  if (!entries) {
    std::cerr << fmt::format("insightd dlq list: {}\n", entries.error().message);
    return kExitFailure;
  }
  if (command.json) {
    boost::json::array out;
    for (const store::DeadLetter& d : *entries) {
      boost::system::error_code ec;
      boost::json::value errors = boost::json::parse(d.errors_json, ec);
      boost::json::object o{{"dlq_id", d.dlq_id},
                            {"job_id", d.job_id},
                            {"batch_id", d.batch_id},
                            {"attempt_count", d.attempt_count},
                            {"failed_at", format_timestamp(d.failed_at)},
                            {"errors", ec ? boost::json::value(boost::json::array()) : errors}};
      o["last_error"] = d.last_error ? boost::json::value(*d.last_error) : nullptr;
      o["redriven_at"] =
          d.redriven_at ? boost::json::value(format_timestamp(*d.redriven_at)) : nullptr;
      o["redriven_job_id"] = d.redriven_job_id ? boost::json::value(*d.redriven_job_id) : nullptr;
      out.push_back(std::move(o));
    }
    fmt::print("{}\n", boost::json::serialize(out));
    return kExitOk;
  }
  if (entries->empty()) {
    fmt::print("the dead-letter queue is empty\n");
    return kExitOk;
  }
  for (const store::DeadLetter& d : *entries) {
    fmt::print("{}  job {}  batch {}  {} attempts  failed {}{}\n", d.dlq_id, d.job_id, d.batch_id,
               d.attempt_count, format_timestamp(d.failed_at),
               d.redriven_at ? fmt::format("  redriven {} as {}", format_timestamp(*d.redriven_at),
                                           d.redriven_job_id.value_or("?"))
                             : "");
    boost::system::error_code ec;
    const boost::json::value errors = boost::json::parse(d.errors_json, ec);
    if (ec || !errors.is_array()) continue;
    for (const auto& e : errors.as_array()) {
      if (!e.is_object()) continue;
      const auto& o = e.as_object();
      auto text = [&o](std::string_view key) -> std::string {
        const auto* v = o.if_contains(key);
        if (v == nullptr) return "";
        if (v->is_string()) return std::string(v->as_string());
        return boost::json::serialize(*v);
      };
      fmt::print("  attempt {}  {}  {}\n", text("attempt"), text("at"), text("error"));
    }
  }
  return kExitOk;
}

int run_archive(const Config& config, bool dry_run, const std::string& sealed_before) {
  lifecycle::ArchiverOptions options;
  options.after = std::chrono::days(config.archive_after_days);
  std::string age = fmt::format("more than {} days ago", config.archive_after_days);
  if (!sealed_before.empty()) {
    const Timestamp now = SystemClock::instance().now();
    auto t = parse_rfc3339(sealed_before);
    if (!t || *t > now) {
      std::cerr << "insightd archive: --sealed-before must be an RFC 3339 time not in the "
                   "future, e.g. 2026-12-01T00:00:00Z\n";
      return kExitUsage;
    }
    options.sealed_before = *t;
    age = fmt::format("before {}", format_timestamp(*t));
  }
  auto opened = open_and_migrate(config);
  if (!opened) {
    spdlog::error("[Archive] {}", opened.error().message);
    return kExitFailure;
  }
  if (config.archive_delete_after_days > 0) {
    options.delete_after = std::chrono::days(config.archive_delete_after_days);
  }
  lifecycle::Archiver archiver(*opened->store, RealClock::instance(), options);
  auto pass = archiver.run_once(
      dry_run, [&](const store::ArchiveCandidate& c, const store::ArchivedBatchInfo* info) {
        if (info == nullptr) {
          fmt::print("would archive {} (sealed {}, {} events)\n", c.batch_id,
                     format_timestamp(c.sealed_at), c.event_count);
        } else {
          fmt::print("archived {} (sealed {}, {} events, {} bytes stored as {})\n", c.batch_id,
                     format_timestamp(c.sealed_at), info->event_count, info->raw_bytes,
                     info->stored_bytes);
        }
      });
  if (!pass) {
    std::cerr << fmt::format("insightd archive: {}\n", pass.error().message);
    return kExitFailure;
  }
  if (pass->lease_held_elsewhere) {
    std::cerr << "insightd archive: another node is in the middle of a pass (the archiver "
                 "lease); nothing done: try again in a minute\n";
    return kExitFailure;
  }
  if (dry_run) {
    fmt::print("{} batches ({} events) sealed {} would move; nothing changed\n", pass->batches,
               pass->events, age);
  } else {
    fmt::print("{} batches archived ({} events, {} bytes stored as {}{})\n", pass->batches,
               pass->events, pass->raw_bytes, pass->stored_bytes,
               pass->raw_bytes > 0
                   ? fmt::format(", {:.1f}x smaller", static_cast<double>(pass->raw_bytes) /
                                                          static_cast<double>(pass->stored_bytes))
                   : "");
    if (config.archive_delete_after_days > 0) {
      fmt::print(
          "{} archived batches lost their events, archived more than {} days ago "
          "(ARCHIVE_DELETE_AFTER_DAYS)\n",
          pass->deleted_batches, config.archive_delete_after_days);
    }
  }
  return kExitOk;
}

int run_restore(const Config& config, const std::string& batch_id) {
  auto opened = open_and_migrate(config);
  if (!opened) {
    spdlog::error("[Restore] {}", opened.error().message);
    return kExitFailure;
  }
  auto info = opened->store->archive().info(batch_id);
  if (Status st = opened->store->archive().restore(batch_id, SystemClock::instance().now()); !st) {
    std::cerr << fmt::format("insightd restore: {}\n", st.message());
    return kExitFailure;
  }
  fmt::print("restored {} ({} events back in \"Event\")\n", batch_id,
             info && *info ? (*info)->event_count : 0);
  return kExitOk;
}

int run_export(const Config& config, const ExportCommand& command) {
  lifecycle::ExportOptions options;
  for (const auto& [text, into, name] : {std::tuple{&command.from, &options.from, "--from"},
                                         std::tuple{&command.to, &options.to, "--to"}}) {
    if (text->empty()) continue;
    auto t = parse_rfc3339(*text);
    if (!t) {
      std::cerr << fmt::format(
          "insightd export: {} must be an RFC 3339 time, e.g. "
          "2026-12-01T00:00:00Z\n",
          name);
      return kExitUsage;
    }
    *into = *t;
  }
  if (!command.type.empty()) options.type = command.type;
  options.format = command.format == "csv" ? lifecycle::ExportOptions::Format::kCsv
                                           : lifecycle::ExportOptions::Format::kJsonl;
  auto opened = open_and_migrate(config);
  if (!opened) {
    spdlog::error("[Export] {}", opened.error().message);
    return kExitFailure;
  }
  const Timestamp from =
      options.from.value_or(Timestamp(std::chrono::sys_days{std::chrono::year{1} / 1 / 1}));
  const Timestamp to =
      options.to.value_or(Timestamp(std::chrono::sys_days{std::chrono::year{9999} / 12 / 31}));
  auto total = opened->store->archive().events_between(from, to);
  std::ofstream file;
  std::ostream* out = &std::cout;
  const bool to_file = !command.output.empty() && command.output != "-";
  if (to_file) {
    file.open(command.output, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::cerr << fmt::format("insightd export: cannot write {}\n", command.output);
      return kExitFailure;
    }
    out = &file;
  }
  lifecycle::Progress progress("exported", "events", total ? *total : 0,
                               lifecycle::Progress::stderr_is_terminal());
  auto done = lifecycle::export_events(*opened->store, options, *out,
                                       [&progress](int64_t n) { progress.update(n); });
  if (!done) {
    std::cerr << fmt::format("\ninsightd export: {}\n", done.error().message);
    return kExitFailure;
  }
  progress.finish(done->events, fmt::format(" from {} batches ({} archived){}", done->batches,
                                            done->archived_batches,
                                            to_file ? fmt::format(" to {}", command.output) : ""));
  return kExitOk;
}

int run_import(const Config& config, const std::string& input, const std::string& rejected_path) {
  const bool from_stdin = input == "-";
  std::ifstream file;
  int64_t total_lines = 0;
  if (!from_stdin) {
    // Counted first (a quick read) so the progress bar can say how far along it is.
    std::ifstream counting(input, std::ios::binary);
    if (!counting) {
      std::cerr << fmt::format("insightd import: cannot read {}\n", input);
      return kExitFailure;
    }
    std::array<char, 1 << 16> chunk{};
    while (counting.read(chunk.data(), chunk.size()) || counting.gcount() > 0) {
      total_lines += std::count(chunk.data(), chunk.data() + counting.gcount(), '\n');
    }
    file.open(input, std::ios::binary);
  }
  std::istream& in = from_stdin ? std::cin : file;
  const std::string rejected_file =
      !rejected_path.empty() ? rejected_path
                             : (from_stdin ? std::string("stdin") : input) + ".rejected.jsonl";

  auto opened = open_and_migrate(config);
  if (!opened) {
    spdlog::error("[Import] {}", opened.error().message);
    return kExitFailure;
  }
  ingest::GroupCommitWriter writer(
      opened->store->events(), SystemClock::instance(),
      ingest::WriterOptions{.policy = batch_policy(config),
                            .commit_timeout = Millis(config.ingest_commit_timeout_ms)},
      nullptr, nullptr);
  writer.start();
  std::ofstream rejected_out;
  lifecycle::Progress progress("read", "lines", total_lines,
                               lifecycle::Progress::stderr_is_terminal());
  auto done = lifecycle::import_events(
      in, writer, SystemClock::instance(), lifecycle::ImportOptions{},
      [&](const lifecycle::RejectedLine& r) {
        if (!rejected_out.is_open()) {
          rejected_out.open(rejected_file, std::ios::binary | std::ios::trunc);
          if (!rejected_out) {
            std::cerr << fmt::format("\ninsightd import: cannot write {}\n", rejected_file);
          }
        }
        boost::json::object line{{"line", r.line},
                                 {"code", r.code},
                                 {"reason", r.reason},
                                 {"eventId", r.event_id},
                                 {"text", r.text}};
        rejected_out << boost::json::serialize(line) << '\n';
      },
      [&progress](int64_t n) { progress.update(n); });
  writer.stop();
  rejected_out.close();
  if (!done) {
    std::cerr << fmt::format(
        "\ninsightd import: {} (what was acknowledged is stored; import "
        "the file again to finish: nothing is stored twice)\n",
        done.error().message);
    return kExitFailure;
  }
  progress.finish(done->lines,
                  fmt::format(": {} accepted, {} duplicates, {} rejected{}", done->accepted,
                              done->duplicates, done->rejected,
                              done->rejected > 0 ? fmt::format(" (see {})", rejected_file) : ""));
  return done->rejected > 0 ? kExitSomeRejected : kExitOk;
}

int run_seal(const Config& config) {
  auto opened = open_and_migrate(config);
  if (!opened) {
    spdlog::error("[Seal] {}", opened.error().message);
    return kExitFailure;
  }
  auto sealed =
      opened->store->batches().seal_open(batch_policy(config), SystemClock::instance().now());
  if (!sealed) {
    spdlog::error("[Seal] {}", sealed.error().message);
    return kExitFailure;
  }
  if (!*sealed) {
    fmt::print("no open batch with events; nothing to seal\n");
    return kExitOk;
  }
  fmt::print("sealed {} ({} events); created job {}\n", (*sealed)->batch_id, (*sealed)->event_count,
             (*sealed)->job_id);
  return kExitOk;
}

int run_migrate(const Config& config, bool status_only) {
  auto opened = store::open_store(store_url(config), store::StoreOptions{});
  if (!opened) {
    spdlog::error("[Migrate] {}", opened.error().message);
    return kExitFailure;
  }
  if (!status_only) {
    auto applied = store::migrate_up(*opened->pool, SystemClock::instance());
    if (!applied) {
      spdlog::error("[Migrate] {}", applied.error().message);
      return kExitFailure;
    }
    for (const auto& m : *applied) {
      fmt::print("applied  {:04d}_{}\n", m.version, m.name);
    }
    if (applied->empty()) fmt::print("schema is current; nothing to apply\n");
    return kExitOk;
  }
  auto status = store::migration_status(*opened->pool);
  if (!status) {
    spdlog::error("[Migrate] {}", status.error().message);
    return kExitFailure;
  }
  fmt::print("database: {}\n", config.database_description());
  for (const auto& m : status->applied) {
    fmt::print("applied  {:04d}_{}  {}\n", m.version, m.name, format_timestamp(m.applied_at));
  }
  for (const auto& m : status->pending) fmt::print("pending  {:04d}_{}\n", m.version, m.name);
  fmt::print("{}\n", status->current() ? "schema is current" : "migrations pending");
  return kExitOk;
}

int run_insight(const Config& config, const std::string& from_path, const std::string& analyzer) {
  analysis::InsightCommandOptions options;
  options.from_path = from_path;
  options.analyzer = analyzer;
  options.openai.api_key = config.openai_api_key.value_or("");
  options.openai.base_url = config.openai_base_url;
  options.openai.model = config.openai_model;
  return analysis::run_insight_command(options, std::cout, std::cerr);
}

}  // namespace insightd::app
