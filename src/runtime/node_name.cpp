#include "runtime/node_name.h"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <random>

namespace insightd::runtime {

std::string node_name() {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  std::random_device rd;
  return fmt::format("{}:{}:{:08x}", host[0] != '\0' ? host.data() : "localhost", getpid(), rd());
}

}  // namespace insightd::runtime
