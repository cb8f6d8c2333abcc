#include "app/cli.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/commands.h"
#include "app/config.h"
#include "app/exit_codes.h"
#include "app/server.h"
#include "obs/log.h"

#ifndef INSIGHTD_VERSION
#define INSIGHTD_VERSION "0.0.0"
#endif

namespace insightd::app {
namespace {

// Reads the configuration from the sources in their order of precedence.
Result<Config> resolve_config(const std::map<std::string, std::string>& flags,
                              const std::string& env_file, bool env_file_required) {
  ConfigSources sources;
  sources.flags = flags;
  sources.env = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    return v != nullptr ? std::optional<std::string>(v) : std::nullopt;
  };
  std::ifstream in(env_file);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = parse_dotenv(text.str());
    if (!parsed) return parsed.error();
    sources.dotenv = std::move(parsed).value();
  } else if (env_file_required) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--env-file {}: cannot read it", env_file));
  }
  return load_config(sources);
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{
      "insightd: a production analytics pipeline.\n"
      "Without a subcommand it runs everything in one process (the embedded default).\n"
      "Every setting is also read from the environment and from .env; flags win over\n"
      "the environment, which wins over .env. Secrets (keys, passwords) have no flags."};
  app.set_version_flag("--version", std::string("insightd ") + INSIGHTD_VERSION);
  app.require_subcommand(0, 1);

  std::string env_file = ".env";
  auto* env_file_opt =
      app.add_option("--env-file", env_file, "read settings from this file (default: .env)");

  // One flag per non-secret variable; they apply to every subcommand.
  std::map<std::string, std::string> flag_values;
  std::vector<std::pair<std::string, CLI::Option*>> flag_options;
  for (const VariableSpec& spec : config_variables()) {
    if (spec.secret) continue;
    auto* opt =
        app.add_option("--" + flag_name(spec.name), flag_values[std::string(spec.name)],
                       fmt::format("{} [{}; default {}]", spec.help, spec.name, spec.default_text));
    opt->group("Settings");
    flag_options.emplace_back(std::string(spec.name), opt);
  }

  auto* serve = app.add_subcommand(
      "serve",
      "Run the HTTP server: ingestion (POST /api/events), the age sealer, /healthz and "
      "/readyz. Stateless; run several on one PostgreSQL.");
  auto* work = app.add_subcommand(
      "work",
      "Run the analysis workers and stuck-job recovery, without HTTP. Competing workers: "
      "run several on one PostgreSQL.");
  auto* analyze = app.add_subcommand(
      "analyze",
      "Create an analysis job for a SEALED or ANALYZED batch (fails while one is "
      "PENDING or RUNNING for it).");
  std::string analyze_batch;
  analyze->add_option("BATCH", analyze_batch, "the batch id (batch_...)")->required();
  auto* dlq = app.add_subcommand("dlq", "List, redrive or discard dead-letter jobs.");
  dlq->require_subcommand(1, 1);
  auto* dlq_list = dlq->add_subcommand("list", "List dead jobs, newest first, with every error.");
  DlqCommand dlq_command;
  dlq_list->add_option("--limit", dlq_command.limit, "at most this many (default 50)")
      ->check(CLI::Range(1, 10000));
  dlq_list->add_flag("--json", dlq_command.json, "print a JSON array");
  auto* dlq_retry = dlq->add_subcommand(
      "retry", "Redrive a dead job: a fresh job for its batch with fresh attempts.");
  dlq_retry->add_option("ID", dlq_command.id, "the dead-letter id (dlq_...)")->required();
  auto* dlq_discard = dlq->add_subcommand("discard", "Delete a dead-letter entry.");
  dlq_discard->add_option("ID", dlq_command.id, "the dead-letter id (dlq_...)")->required();
  auto* migrate = app.add_subcommand("migrate", "Apply or inspect the schema migrations.");
  auto* seal = app.add_subcommand(
      "seal", "Seal the OPEN batch now (if it holds events), creating its analysis job.");
  migrate->require_subcommand(0, 1);
  auto* migrate_up_cmd = migrate->add_subcommand("up", "Apply every pending migration (default).");
  auto* migrate_status_cmd =
      migrate->add_subcommand("status", "List applied and pending migrations.");
  auto* archive = app.add_subcommand(
      "archive",
      "Run one archiver pass now: the events of ANALYZED batches sealed more than "
      "ARCHIVE_AFTER_DAYS ago move to \"ArchivedBatch\", compressed (for operators and cron).");
  bool archive_dry_run = false;
  archive->add_flag("--dry-run", archive_dry_run, "list what would move; change nothing");
  std::string archive_sealed_before;
  archive->add_option("--sealed-before", archive_sealed_before,
                      "instead of ARCHIVE_AFTER_DAYS: the batches sealed before this time "
                      "(RFC 3339, not in the future)");
  auto* restore = app.add_subcommand(
      "restore", "Put an archived batch's events back into \"Event\", after checking them.");
  std::string restore_batch;
  restore->add_option("BATCH", restore_batch, "the batch id (batch_...)")->required();
  auto* export_cmd = app.add_subcommand(
      "export",
      "Write events in order of receipt, hot and archived alike, as JSON lines (one "
      "user:event object each) or CSV; a progress bar on stderr when it is a terminal.");
  ExportCommand export_command;
  export_cmd->add_option("--from", export_command.from, "received at or after (RFC 3339)");
  export_cmd->add_option("--to", export_command.to, "received before (RFC 3339)");
  export_cmd->add_option("--type", export_command.type, "only this eventType");
  export_cmd->add_option("--format", export_command.format, "jsonl (default) or csv")
      ->check(CLI::IsMember({"jsonl", "csv"}));
  export_cmd->add_option("--output", export_command.output, "the file to write (default: stdout)");
  auto* import_cmd = app.add_subcommand(
      "import",
      "Store the events of a JSON lines file (one user:event object per line; - for stdin) "
      "through live ingestion's validation, deduplication by eventId and batching. Exit 3 "
      "when some lines were rejected (written with their line numbers to "
      "FILE.rejected.jsonl).");
  std::string import_input;
  std::string import_rejected;
  import_cmd->add_option("FILE", import_input, "the JSON lines file, or - for stdin")->required();
  import_cmd->add_option("--rejected", import_rejected,
                         "where rejected lines go (default: FILE.rejected.jsonl)");
  auto* insight = app.add_subcommand(
      "insight",
      "Analyze a file of events (one user:event JSON object per line) as one batch "
      "and print the insight as JSON.");
  std::string insight_from;
  std::string insight_analyzer;
  insight->add_option("--from", insight_from, "the JSONL file of events")->required();
  insight
      ->add_option("--analyzer", insight_analyzer,
                   "builtin or openai (default: openai when OPENAI_API_KEY is set)")
      ->check(CLI::IsMember({"builtin", "openai"}));
  for (auto* sub :
       {serve, work, migrate, migrate_up_cmd, migrate_status_cmd, seal, insight, analyze, dlq,
        dlq_list, dlq_retry, dlq_discard, archive, restore, export_cmd, import_cmd}) {
    sub->fallthrough();
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    (void)app.exit(e);
    return kExitUsage;
  }

  std::map<std::string, std::string> flags;
  for (const auto& [name, opt] : flag_options) {
    if (opt->count() > 0) flags[name] = flag_values[name];
  }
  auto config = resolve_config(flags, env_file, env_file_opt->count() > 0);
  if (!config) {
    std::cerr << "insightd: invalid configuration: " << config.error().message << "\n";
    return kExitUsage;
  }
  // The events of an export may go to stdout: the log goes to stderr then.
  if (!obs::init_logging(config->log_level, export_cmd->parsed())) return kExitUsage;

  if (migrate->parsed()) return run_migrate(*config, migrate_status_cmd->parsed());
  if (seal->parsed()) return run_seal(*config);
  if (analyze->parsed()) return run_analyze(*config, analyze_batch);
  if (archive->parsed()) return run_archive(*config, archive_dry_run, archive_sealed_before);
  if (restore->parsed()) return run_restore(*config, restore_batch);
  if (export_cmd->parsed()) return run_export(*config, export_command);
  if (import_cmd->parsed()) return run_import(*config, import_input, import_rejected);
  if (dlq->parsed()) {
    dlq_command.action = dlq_retry->parsed()     ? DlqAction::kRetry
                         : dlq_discard->parsed() ? DlqAction::kDiscard
                                                 : DlqAction::kList;
    return run_dlq(*config, dlq_command);
  }
  if (insight->parsed()) return run_insight(*config, insight_from, insight_analyzer);
  if (work->parsed()) return run_until_stopped(*config, Mode::kWork);
  return run_until_stopped(*config, serve->parsed() ? Mode::kServe : Mode::kAllInOne);
}

}  // namespace insightd::app
