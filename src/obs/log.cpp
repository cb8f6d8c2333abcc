#include "obs/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace insightd::obs {

bool init_logging(std::string_view level, bool to_stderr) {
  const auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") return false;
  auto logger =
      to_stderr ? spdlog::stderr_logger_mt("insightd") : spdlog::stdout_logger_mt("insightd");
  // "2026-11-29T04:49:05.123Z INFO  [Worker] Claimed job: job_..."
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l %v", spdlog::pattern_time_type::utc);
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return true;
}

}  // namespace insightd::obs
