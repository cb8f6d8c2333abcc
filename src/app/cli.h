// The insightd command line: subcommands, flags, and the process lifecycle
// (configuration, logging, database, server, signals). Returns the exit code:
// 0 success, 1 a runtime failure, 2 bad usage or configuration.
#pragma once

namespace insightd::app {

int run_cli(int argc, char** argv);

}  // namespace insightd::app
