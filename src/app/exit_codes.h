// The process's exit codes, shared by the command line, the one-shot commands
// and the server: 0 success, 1 a runtime failure, 2 bad usage or configuration.
#pragma once

namespace insightd::app {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
// `insightd import` finished, but some lines were rejected (see the .rejected.jsonl file).
constexpr int kExitSomeRejected = 3;

}  // namespace insightd::app
