// The insightd command line: parses the subcommands and flags, resolves the
// configuration, sets up logging, and hands over to a one-shot command
// (app/commands.h) or to a Server in its mode (app/server.h). Returns the exit
// code (app/exit_codes.h): 0 success, 1 a runtime failure, 2 bad usage or
// configuration.
#pragma once

namespace insightd::app {

int run_cli(int argc, char** argv);

}  // namespace insightd::app
