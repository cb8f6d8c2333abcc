#include "net/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <memory>
#include <mutex>
#include <string_view>

namespace insightd::net {
namespace {

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// libcurl must be initialised once before any thread uses it.
void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  const HttpRequest& request;
  HttpResponse response;
  bool too_large = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->response.body.size() + n > t->request.max_response_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->response.body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  const std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    t->response.headers.clear();  // a new response (after a 100 Continue): its own headers
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  const std::string_view name = line.substr(0, colon);
  const auto kept =
      std::find_if(t->request.keep_headers.begin(), t->request.keep_headers.end(),
                   [&](const std::string& wanted) { return boost::beast::iequals(name, wanted); });
  if (kept == t->request.keep_headers.end()) return n;
  std::string_view value = line.substr(colon + 1);
  constexpr std::string_view kBlanks = " \t\r\n";
  value.remove_prefix(std::min(value.find_first_not_of(kBlanks), value.size()));
  while (!value.empty() && kBlanks.find(value.back()) != std::string_view::npos) {
    value.remove_suffix(1);
  }
  t->response.headers.insert_or_assign(*kept, std::string(value));
  return n;
}

HttpFailure failure_of(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return HttpFailure::kTimeout;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return HttpFailure::kUnusable;
    default:
      return HttpFailure::kConnection;
  }
}

}  // namespace

HttpResult send_http(const HttpRequest& request) {
  init_curl_once();
  CurlEasy curl(curl_easy_init());
  if (!curl)
    return HttpError{HttpFailure::kSetup, "could not start an HTTP client (out of memory?)"};
  CurlSlist headers;
  for (const std::string& line : request.headers) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next == nullptr) {
      return HttpError{HttpFailure::kSetup, "could not build the request headers (out of memory?)"};
    }
    (void)headers.release();
    headers.reset(next);
  }
  Transfer transfer{.request = request};
  char error_buffer[CURL_ERROR_SIZE] = {};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: safe in threads
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_USERAGENT, "insightd");
  if (request.accept_compressed) curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  if (request.method == HttpRequest::Method::kPost) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);

  const CURLcode code = curl_easy_perform(h);
  if (transfer.too_large) {
    return HttpError{
        HttpFailure::kTooLarge,
        "the answer is longer than " + std::to_string(request.max_response_bytes) + " bytes"};
  }
  if (code != CURLE_OK) {
    return HttpError{failure_of(code),
                     error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code)};
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  transfer.response.status = static_cast<int>(status);
  return std::move(transfer.response);
}

}  // namespace insightd::net
