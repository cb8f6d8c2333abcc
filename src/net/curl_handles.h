// libcurl's one-time set-up and owning handles, for the modules that make
// outbound HTTP requests (analysis: the OpenAI-compatible API; auth: the OIDC
// provider). Header-only: a user links CURL::libcurl itself.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <mutex>

namespace insightd::net {

// libcurl must be initialised once before any thread uses it.
inline void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

}  // namespace insightd::net
