// Files served as they are (the dashboard's HTML, scripts, styles): each with
// its Content-Type and a strong ETag, so browsers revalidate with
// If-None-Match and get 304 instead of the body again.
//
// A StaticFiles is filled once and then only read, by any number of threads.
// It can also read a folder on every request (StaticFiles::from_directory):
// for working on the dashboard without rebuilding.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "net/http.h"

namespace insightd::net {

struct StaticFile {
  std::string body;
  std::string content_type;
  std::string etag;  // a quoted strong validator: "\"5d41402abc4b2a76\""
};

// The Content-Type for a file name by its extension; application/octet-stream
// for one it does not know.
std::string_view content_type_for(std::string_view name);

// True for a name a client may ask for: segments of [A-Za-z0-9._-] separated by
// single '/', none empty, none "." or "..", not absolute. Keeps a request inside
// the folder of from_directory().
bool safe_file_name(std::string_view name);

class StaticFiles {
 public:
  StaticFiles() = default;
  // Serves the files under `dir`, read again on every request.
  static StaticFiles from_directory(std::filesystem::path dir);

  // Adds (or replaces) a file held in memory.
  void add(std::string name, std::string body);

  // The file called `name`; nullopt when there is none or the name is unsafe.
  std::optional<StaticFile> find(std::string_view name) const;

  // The names held in memory.
  std::vector<std::string> names() const;

 private:
  std::map<std::string, StaticFile, std::less<>> files_;
  std::optional<std::filesystem::path> dir_;
};

// 200 with the file, or 304 without a body when the request's If-None-Match
// names its ETag. Sets Content-Type, ETag and `cache_control`.
Response file_response(const Request& req, const StaticFile& file, std::string_view cache_control);

}  // namespace insightd::net
