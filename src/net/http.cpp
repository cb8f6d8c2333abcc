#include "net/http.h"

#include <boost/json/serialize.hpp>
#include <boost/url/parse_query.hpp>
#include <string>

namespace insightd::net {

Response json_response(http::status status, const boost::json::value& body) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = boost::json::serialize(body);
  return res;
}

std::map<std::string, std::string> query_params(const Request& req) {
  std::map<std::string, std::string> out;
  const std::string_view target = req.target();
  const size_t q = target.find('?');
  if (q == std::string_view::npos || q + 1 == target.size()) return out;
  // Boost.URL 1.81's parse_query needs a NUL-terminated text (engineio_server.cpp).
  const std::string text(target.substr(q + 1));
  auto params = boost::urls::parse_query(text);
  if (!params) return out;
  for (auto p : *params) out[p.key.decode()] = p.has_value ? p.value.decode() : std::string();
  return out;
}

Response error_response(http::status status, std::string_view code, std::string_view message) {
  return json_response(status, {{"error", {{"code", code}, {"message", message}}}});
}

http::status http_status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return http::status::bad_request;
    case ErrorCode::kNotFound:
      return http::status::not_found;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict:
    case ErrorCode::kIllegalTransition:
    case ErrorCode::kLeaseLost:
      return http::status::conflict;
    case ErrorCode::kUnavailable:
      return http::status::service_unavailable;
    case ErrorCode::kInternal:
      return http::status::internal_server_error;
  }
  return http::status::internal_server_error;
}

Response error_response(const Error& error) {
  std::string_view message = error.message;
  if (error.code == ErrorCode::kInternal) message = "internal error";
  return error_response(http_status_for(error.code), to_string(error.code), message);
}

std::string_view peer_address(const Request& req) {
  auto it = req.find(kPeerAddressHeader);
  return it == req.end() ? std::string_view() : std::string_view(it->value());
}

}  // namespace insightd::net
