// A connection that leaves HTTP: the server hands an upgrade request (WebSocket)
// and its socket to the handler registered with Router::add_upgrade_prefix, and
// never touches that socket again. Kept apart from router.h so that only the
// modules that take sockets over pay for Asio's socket headers.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <utility>

#include "net/http.h"

namespace insightd::net {

class UpgradeRequest {
 public:
  UpgradeRequest(Request request, boost::asio::ip::tcp::socket socket,
                 std::shared_ptr<const void> ticket = nullptr)
      : request_(std::move(request)), socket_(std::move(socket)), ticket_(std::move(ticket)) {}

  // The upgrade request, read whole; nothing after it was read from the socket.
  Request& request() { return request_; }

  // The connection, still on the HTTP server's executor: a new owner that runs
  // elsewhere moves it to its own io_context (release() and reassign). Left here,
  // it is closed when the handler returns.
  boost::asio::ip::tcp::socket& socket() { return socket_; }

  // The connection's place under the server's connection caps
  // (net/connection_limiter.h): the new owner keeps it for as long as the
  // connection is open, so the connection still counts.
  std::shared_ptr<const void> take_ticket() { return std::move(ticket_); }

 private:
  Request request_;
  boost::asio::ip::tcp::socket socket_;
  std::shared_ptr<const void> ticket_;
};

}  // namespace insightd::net
