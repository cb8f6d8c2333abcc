// libFuzzer target for auth::find_cookie, which reads the session and sign-in
// cookies from a request's Cookie headers. The first input line is the name to
// look for, each further line one Cookie header. Checks, for that name and for
// the session and flow cookies': a value found holds no ';', lies within one
// header, and has no surrounding blanks unless it was quoted there; a name
// holding ';' or '=' is never found.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_service.h"
#include "auth/oidc_routes.h"

using namespace insightd;

namespace {

void check(const net::Request& req, const std::vector<std::string_view>& headers,
           std::string_view name) {
  const auto value = auth::find_cookie(req, name);
  if (!value) return;
  if (name.find_first_of(";=") != std::string_view::npos) __builtin_trap();
  if (value->find(';') != std::string::npos) __builtin_trap();
  // Blanks around a value are trimmed, but kept inside quotes (a=" x ").
  const bool blank_edge = !value->empty() && (value->front() == ' ' || value->front() == '\t' ||
                                              value->back() == ' ' || value->back() == '\t');
  const std::string quoted = '"' + *value + '"';
  bool within = false;
  for (std::string_view header : headers) {
    within = within || header.find(blank_edge ? quoted : *value) != header.npos;
  }
  if (!within) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t eol = input.find('\n');
  const std::string_view name = input.substr(0, eol);
  net::Request req{net::http::verb::get, "/admin/analytics", 11};
  req.set(net::http::field::host, "localhost:3000");
  std::vector<std::string_view> headers;
  for (input = eol == input.npos ? "" : input.substr(eol + 1); !input.empty();) {
    const size_t end = input.find('\n');
    const std::string_view line = input.substr(0, end);
    input = end == input.npos ? "" : input.substr(end + 1);
    if (line.size() > 8192) continue;  // the server's header limit is smaller
    req.insert(net::http::field::cookie, line);
    headers.push_back(line);
  }
  check(req, headers, name);
  check(req, headers, auth::kSessionCookie);
  check(req, headers, auth::kOidcFlowCookie);
  return 0;
}
