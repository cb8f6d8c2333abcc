// The one outbound HTTP client, over libcurl, for the modules that call other
// services: auth (the OpenID Connect provider) and analysis (the
// OpenAI-compatible API). A call sends one request and blocks until the whole
// answer is in or the request failed. Redirects are never followed (a secret in
// a header or body must go nowhere else); only http and https; TLS is verified
// against the system's CAs and proxies come from the usual environment
// variables, as libcurl does by default.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/time.h"

namespace insightd::net {

struct HttpRequest {
  enum class Method { kGet, kPost };
  Method method = Method::kGet;
  std::string url;
  // Header lines ("Name: value") added to libcurl's; "Name:" removes one of its own.
  std::vector<std::string> headers;
  std::string body;           // sent with kPost
  Millis timeout{10'000};     // the whole request, connecting included
  Millis connect_timeout{0};  // connecting alone; 0: libcurl's default (300 s) within `timeout`
  // A longer body fails the request (kTooLarge) as soon as it is seen.
  size_t max_response_bytes = size_t{1} << 20;
  // Offer every compression libcurl decodes; max_response_bytes counts decoded bytes.
  bool accept_compressed = false;
  // The response headers to keep, by lower-case name; others are not stored.
  std::vector<std::string> keep_headers;
};

struct HttpResponse {
  int status = 0;  // any status is an answer
  std::string body;
  // The kept headers of the final response (not of a 100 Continue before it),
  // by lower-case name, values without surrounding blanks; the last one wins.
  std::map<std::string, std::string, std::less<>> headers;
};

enum class HttpFailure {
  kSetup,       // the client could not be set up (out of memory)
  kUnusable,    // a bad URL or protocol, or TLS refused (the peer's certificate or our CAs):
                // retrying will not help
  kTimeout,     // the answer was not complete within the timeout
  kConnection,  // anything else on the way: refused, reset, name resolution, ...
  kTooLarge,    // the body is longer than max_response_bytes
};

struct HttpError {
  HttpFailure failure = HttpFailure::kConnection;
  std::string message;  // what went wrong, in libcurl's words; never a header or the body
};

using HttpResult = std::variant<HttpResponse, HttpError>;

// Sends `request` and waits for the answer. Thread-safe.
HttpResult send_http(const HttpRequest& request);

}  // namespace insightd::net
