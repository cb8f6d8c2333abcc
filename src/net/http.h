// The HTTP vocabulary of insightd: the request and response types every handler
// sees, and the helpers that build the JSON answers of the admin API (SPEC §10:
// errors are {"error": {"code", "message"}}).
//
// Only Beast's message types are pulled in here (no parser, serializer or
// sockets), so modules that write handlers stay cheap to compile.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <string>
#include <string_view>

#include "core/result.h"

namespace insightd::net {

namespace http = boost::beast::http;

// Requests and responses are held whole in memory; the server bounds the body size.
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// A response with `body` serialized as JSON and Content-Type: application/json.
// The server fills in version, keep-alive, Server, Date and Content-Length.
Response json_response(http::status status, const boost::json::value& body);

// {"error":{"code":code,"message":message}} with the given status. `code` is a
// stable machine-readable word ("not_found", "payload_too_large"); `message` is
// for people and is sent as is, so it must not carry secrets.
Response error_response(http::status status, std::string_view code, std::string_view message);

// The HTTP status that fits an insightd error (kNotFound → 404, kConflict → 409,
// kUnavailable → 503, ...).
http::status http_status_for(ErrorCode code);

// error_response for an insightd Error: status from http_status_for, code from
// to_string(ErrorCode). The message of a kInternal error is replaced by a generic
// one, since it may describe internals; log it before calling this.
Response error_response(const Error& error);

// The parameters of the request target's query string, percent-decoded; the
// last of a repeated key wins; empty for no query or an unreadable one.
std::map<std::string, std::string> query_params(const Request& req);

// The header in which the server hands a handler the client's address: the
// socket's peer ("203.0.113.7", "::1"), replacing whatever a client sent under
// that name, so handlers may trust it (the login rate limit keys on it). Behind a
// reverse proxy it is the proxy's address.
inline constexpr std::string_view kPeerAddressHeader = "X-Insightd-Peer";

// The client's address as the server saw it; "" for a request that did not come
// through HttpServer (tests calling Router::dispatch).
std::string_view peer_address(const Request& req);

}  // namespace insightd::net
