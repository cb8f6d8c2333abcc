#include "store/postgres/pg_listener.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "store/postgres/detail/pg_connect.h"

namespace insightd::store {

struct PgListener::Impl {
  PGconn* conn = nullptr;
  // A self-pipe: interrupt() writes a byte, wait() polls it beside the socket.
  int wake_read = -1;
  int wake_write = -1;

  ~Impl() {
    if (conn != nullptr) PQfinish(conn);
    if (wake_read >= 0) ::close(wake_read);
    if (wake_write >= 0) ::close(wake_write);
  }

  // Takes every notification libpq has buffered.
  std::vector<std::string> drain() {
    std::vector<std::string> out;
    while (PGnotify* note = PQnotifies(conn)) {
      out.emplace_back(note->extra != nullptr ? note->extra : "");
      PQfreemem(note);
    }
    return out;
  }

  Status broken(std::string_view what) {
    std::string msg = PQerrorMessage(conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("postgresql listener: {}: {}", what, msg));
  }
};

PgListener::PgListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgListener::~PgListener() = default;

Result<std::unique_ptr<PgListener>> PgListener::open(const std::string& url,
                                                     std::string_view channel) {
  const bool identifier =
      !channel.empty() && std::all_of(channel.begin(), channel.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      });
  if (!identifier) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("listen channel \"{}\" is not a lower-case identifier", channel));
  }
  auto impl = std::make_unique<Impl>();
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    return make_error(ErrorCode::kInternal, fmt::format("pipe: errno {}", errno));
  }
  impl->wake_read = fds[0];
  impl->wake_write = fds[1];
  auto conn = detail::connect_postgres(url);
  if (!conn) return conn.error();
  impl->conn = *conn;
  // The channel is checked above, so it can be spliced in (LISTEN takes no parameters).
  PGresult* r = PQexec(impl->conn, fmt::format("LISTEN {}", channel).c_str());
  const bool ok = r != nullptr && PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok) return impl->broken("LISTEN").error();
  // Non-blocking from here on: wait() only ever reads what has arrived.
  if (PQsetnonblocking(impl->conn, 1) != 0) return impl->broken("set non-blocking").error();
  return std::unique_ptr<PgListener>(new PgListener(std::move(impl)));
}

Result<std::vector<std::string>> PgListener::wait(Millis timeout) {
  Impl& s = *impl_;
  if (auto got = s.drain(); !got.empty()) return got;
  const int sock = PQsocket(s.conn);
  if (sock < 0) return s.broken("no socket").error();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    pollfd fds[2] = {{sock, POLLIN, 0}, {s.wake_read, POLLIN, 0}};
    const int ready = ::poll(fds, 2, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorCode::kInternal, fmt::format("poll: errno {}", errno));
    }
    if (fds[1].revents != 0) {
      char buf[64];
      while (::read(s.wake_read, buf, sizeof buf) > 0) {
      }
      return std::vector<std::string>();
    }
    if (fds[0].revents != 0) {
      // Reads what the socket holds; a closed or reset session fails here.
      if (PQconsumeInput(s.conn) == 0) return s.broken("connection lost").error();
      if (auto got = s.drain(); !got.empty()) return got;
      if (PQstatus(s.conn) != CONNECTION_OK) return s.broken("connection lost").error();
    }
    if (ready == 0 || std::chrono::steady_clock::now() >= deadline) {
      return std::vector<std::string>();
    }
  }
}

int PgListener::server_pid() const {
  return PQbackendPID(impl_->conn);
}

void PgListener::interrupt() {
  const char byte = 1;
  // A full pipe already holds a wake-up; nothing is lost by dropping this one.
  (void)!::write(impl_->wake_write, &byte, 1);
}

}  // namespace insightd::store
