// The dashboard's files, built into the binary: everything in web/src and the
// browser libraries installed from npm into web/node_modules (uPlot, the
// Socket.IO client), generated at build time by cmake/EmbedFiles.cmake.
#pragma once

#include <span>
#include <string_view>

namespace insightd::api {

struct EmbeddedFile {
  std::string_view name;  // as served under /admin/assets/: "app.js", "vendor/uPlot.iife.min.js"
  std::string_view bytes;
};

std::span<const EmbeddedFile> web_assets();

}  // namespace insightd::api
