// This process's name among the nodes sharing one database, for leases
// ("host:pid:random", random so that a restarted process with a reused pid
// is another holder).
#pragma once

#include <string>

namespace insightd::runtime {

std::string node_name();

}  // namespace insightd::runtime
