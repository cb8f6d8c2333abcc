// libFuzzer target for query strings: net::query_params (every admin and sign-in
// route reads its parameters with it) and the Engine.IO server's own query check
// (EngineServer::resolve_websocket, whose parser is file-static). The first byte
// picks the mode, the rest is its input:
//   0: a raw query: what query_params reads, re-encoded, must read back the same.
//   1: NUL-separated key, value, key, value...: encoded by us, they must read
//      back exactly (the last of a repeated key wins).
//   2: a raw Engine.IO query: accepted only with EIO=4 and transport=websocket.
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "net/http.h"
#include "socketio/engineio_server.h"

using namespace insightd;

namespace {

std::string encode(std::string_view s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars);
}

std::map<std::string, std::string> read(std::string_view query) {
  net::Request req{net::http::verb::get, "/api/admin/events?" + std::string(query), 11};
  return net::query_params(req);
}

std::string encode_all(const std::map<std::string, std::string>& params) {
  std::string query;
  for (const auto& [key, value] : params) {
    query += (query.empty() ? "" : "&") + encode(key) + "=" + encode(value);
  }
  return query;
}

socketio::EngineServer& engine() {
  static auto* server = new socketio::EngineServer(
      socketio::EngineOptions{}, [] { return nullptr; }, [] { return nullptr; });
  return *server;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      const auto params = read(input);
      if (!params.empty() && read(encode_all(params)) != params) __builtin_trap();
      break;
    }
    case 1: {
      std::map<std::string, std::string> want;
      std::string query;
      for (std::string_view rest = input; !rest.empty();) {
        const size_t k = rest.find('\0');
        const std::string key(rest.substr(0, k));
        rest = k == std::string_view::npos ? std::string_view() : rest.substr(k + 1);
        const size_t v = rest.find('\0');
        const std::string value(rest.substr(0, v));
        rest = v == std::string_view::npos ? std::string_view() : rest.substr(v + 1);
        query += (query.empty() ? "" : "&") + encode(key) + "=" + encode(value);
        want[key] = value;
      }
      if (read(query) != want) __builtin_trap();
      break;
    }
    case 2: {
      auto target = engine().resolve_websocket(input);
      if (target && (input.find("EIO=4") == std::string_view::npos ||
                     input.find("transport=websocket") == std::string_view::npos)) {
        __builtin_trap();
      }
      // No session exists, so an upgrade names an unknown sid: a client error.
      if (!target && target.code() != ErrorCode::kInvalidArgument) __builtin_trap();
      break;
    }
  }
  return 0;
}
