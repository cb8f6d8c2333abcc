#include "net/static_files.h"

#include <fmt/format.h>

#include <array>
#include <fstream>
#include <sstream>

namespace insightd::net {
namespace {

// FNV-1a, 64 bits: enough to tell versions of a file apart (not a security
// boundary: an ETag only saves a transfer).
uint64_t fnv1a(std::string_view data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

StaticFile make_file(std::string_view name, std::string body) {
  StaticFile f;
  f.content_type = std::string(content_type_for(name));
  f.etag = fmt::format("\"{:016x}-{:x}\"", fnv1a(body), body.size());
  f.body = std::move(body);
  return f;
}

bool etag_listed(std::string_view header, std::string_view etag) {
  if (header == "*") return true;
  // A comma-separated list of (possibly weak) validators.
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    std::string_view item = header.substr(pos, comma - pos);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item == etag) return true;
    pos = comma + 1;
  }
  return false;
}

}  // namespace

std::string_view content_type_for(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
  }};
  for (const auto& [ext, type] : kTypes) {
    if (name.ends_with(ext)) return type;
  }
  return "application/octet-stream";
}

bool safe_file_name(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  size_t pos = 0;
  while (true) {
    size_t slash = name.find('/', pos);
    std::string_view seg =
        name.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (const char c : seg) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
      if (!ok) return false;
    }
    if (slash == std::string_view::npos) return true;
    pos = slash + 1;
  }
}

StaticFiles StaticFiles::from_directory(std::filesystem::path dir) {
  StaticFiles files;
  files.dir_ = std::move(dir);
  return files;
}

void StaticFiles::add(std::string name, std::string body) {
  StaticFile f = make_file(name, std::move(body));
  files_.insert_or_assign(std::move(name), std::move(f));
}

std::optional<StaticFile> StaticFiles::find(std::string_view name) const {
  if (!safe_file_name(name)) return std::nullopt;
  if (dir_) {
    const std::filesystem::path path = *dir_ / std::filesystem::path(name);
    std::error_code ec;
    std::ifstream in;
    if (std::filesystem::is_regular_file(path, ec)) in.open(path, std::ios::binary);
    if (in.is_open()) {
      std::ostringstream text;
      text << in.rdbuf();
      return make_file(name, std::move(text).str());
    }
  }
  auto it = files_.find(name);
  if (it == files_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> StaticFiles::names() const {
  std::vector<std::string> out;
  out.reserve(files_.size());
  for (const auto& [name, file] : files_) out.push_back(name);
  return out;
}

Response file_response(const Request& req, const StaticFile& file, std::string_view cache_control) {
  Response res;
  res.set(http::field::etag, file.etag);
  res.set(http::field::cache_control, cache_control);
  if (etag_listed(req[http::field::if_none_match], file.etag)) {
    res.result(http::status::not_modified);
    return res;
  }
  res.result(http::status::ok);
  res.set(http::field::content_type, file.content_type);
  res.body() = file.body;
  return res;
}

}  // namespace insightd::net
