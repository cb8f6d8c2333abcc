#include "net/http_server.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cassert>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/thread_name.h"
#include "net/router.h"
#include "net/upgrade.h"

namespace insightd::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// Bytes read while waiting for the next request on a keep-alive connection; the
// buffer is shrunk to this between requests so idle connections stay small.
constexpr size_t kIdleReadBytes = 1024;
// After answering with "Connection: close" we stop sending and read what the
// client still sends for a while, so that closing with unread input (a TCP
// reset) does not destroy the answer before the client has read it.
constexpr std::chrono::milliseconds kLingerTimeout{2000};
constexpr size_t kMaxLingerBytes = size_t{4} * 1024 * 1024;
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
// Bytes the read buffer may hold beyond a request header: a body passes through
// it in reads of at most 64 KiB, but Beast 1.81 keeps a chunk-size line, chunk
// extensions and trailers whole in it, with no limit of its own.
constexpr size_t kFramingAllowance = size_t{128} * 1024;

class Session;

// What one server's connections share; every connection holds it, so it outlives them.
struct ServerShared {
  ServerShared(HttpServerOptions options, Router router, asio::io_context& blocking)
      : options(std::move(options)),
        router(std::move(router)),
        blocking(blocking.get_executor()),
        limiter(this->options.connection_limiter
                    ? this->options.connection_limiter
                    : ConnectionLimiter::make(this->options.connection_caps)) {}

  const HttpServerOptions options;
  const Router router;
  const asio::io_context::executor_type blocking;  // the blocking pool
  std::atomic<size_t> blocking_backlog{0};         // blocking requests queued or running
  const std::shared_ptr<ConnectionLimiter> limiter;

  std::mutex mu;  // guards what follows
  bool stopping = false;
  bool running = false;  // start() finished binding; stop() must close the acceptor
  std::unordered_map<const Session*, std::weak_ptr<Session>> sessions;
};

// The server whose thread this is (network or blocking), to refuse joining itself.
thread_local const ServerShared* tls_server = nullptr;

// The Date header, formatted once a second per thread (RFC 9110 IMF-fixdate).
std::string_view http_date() {
  thread_local std::time_t cached = -1;
  thread_local char text[64];
  thread_local size_t size = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached) {
    // fmt writes English names unless the global C++ locale is changed, which we never do.
    auto result =
        fmt::format_to_n(text, sizeof text, "{:%a, %d %b %Y %H:%M:%S} GMT", fmt::gmtime(now));
    size = result.size;
    cached = now;
  }
  return {text, size};
}

// What the answer needs to know about its request once the request is gone.
struct RequestInfo {
  unsigned version = 11;
  bool keep_alive = false;
  bool head = false;
};

// Makes a handler's response ready to send: version, keep-alive, Server, Date,
// Content-Length; a HEAD answer keeps the length and drops the body.
void finalize(Response& res, RequestInfo info, const HttpServerOptions& options) {
  bool keep_alive = res.keep_alive() && info.keep_alive;  // a handler may ask to close
  res.version(info.version);
  res.keep_alive(keep_alive);
  res.set(http::field::server, options.server_name);
  res.set(http::field::date, http_date());
  res.prepare_payload();
  if (info.head) res.body().clear();
}

Response internal_error(RequestInfo info, const HttpServerOptions& options) {
  Response res = error_response(http::status::internal_server_error, "internal", "internal error");
  finalize(res, info, options);
  return res;
}

// Runs a handler and finalizes its answer; a throwing handler is a bug, answered 500.
Response produce(const RouteMatch& match, const Request& req, RequestInfo info,
                 const HttpServerOptions& options) {
  try {
    Response res = match.run(req);
    finalize(res, info, options);
    return res;
  } catch (const std::exception& e) {
    spdlog::error("[HTTP] Handler for {} {} threw: {}", std::string_view(req.method_string()),
                  std::string_view(req.target()), e.what());
  } catch (...) {
    spdlog::error("[HTTP] Handler for {} {} threw a non-exception",
                  std::string_view(req.method_string()), std::string_view(req.target()));
  }
  return internal_error(info, options);
}

// The answer slot of one deferred request. send() and abandon() race from any
// thread; the first one wins and the other does nothing.
class DeferredSink final : public Responder::Sink,
                           public std::enable_shared_from_this<DeferredSink> {
 public:
  // Holds the connection until the answer or the abandonment: with
  // "Connection: close" nothing else may be pending on it meanwhile.
  DeferredSink(std::shared_ptr<Session> session, uint64_t seq, RequestInfo info)
      : session_(std::move(session)), seq_(seq), info_(info) {}

  void send(Response res) override;
  void on_abandoned(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    if (state_ == State::kSent) return;
    if (state_ == State::kAbandoned) {
      lock.unlock();
      fn();
      return;
    }
    on_abandoned_ = std::move(fn);
  }

  // The connection ended before the answer: tells whoever holds the Responder.
  void abandon() {
    std::function<void()> fn;
    std::shared_ptr<Session> session;  // released outside the lock
    {
      std::lock_guard lock(mu_);
      if (state_ != State::kPending) return;
      state_ = State::kAbandoned;
      fn = std::move(on_abandoned_);
      session = std::move(session_);
    }
    if (fn) fn();
  }

  uint64_t seq() const { return seq_; }
  RequestInfo info() const { return info_; }

 private:
  enum class State { kPending, kSent, kAbandoned };

  std::shared_ptr<Session> session_;  // until answered or abandoned
  const uint64_t seq_;
  const RequestInfo info_;
  std::mutex mu_;
  State state_ = State::kPending;
  std::function<void()> on_abandoned_;
};

// One HTTP connection. Every member is touched only on the connection's strand.
//
// Requests are read one after another, up to max_pipelined_requests ahead of
// the answers; each takes a slot in `queue_` in arrival order, answers fill
// their slot when ready (blocking ones later, from the pool), and the writer
// sends the front slot as soon as it is filled, so answers leave in request
// order. A connection ends by closing after an answer that says
// "Connection: close", on the peer's end of stream, on an error, or on stop().
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<ServerShared> shared, std::string peer,
          ConnectionLimiter::Ticket ticket)
      : stream_(std::move(socket)),
        shared_(std::move(shared)),
        buffer_(shared_->options.max_header_bytes + kFramingAllowance),
        peer_(std::move(peer)),
        ticket_(std::move(ticket)) {}

  ~Session() {
    std::lock_guard lock(shared_->mu);
    shared_->sessions.erase(this);
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Registers with the server (so stop() can close it) and starts reading.
  void start() {
    {
      std::lock_guard lock(shared_->mu);
      if (shared_->stopping) return;  // dropping the last reference closes the socket
      shared_->sessions.emplace(this, weak_from_this());
    }
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }

  // Closes the connection at once; callable from any thread.
  void close() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->close_now(); });
  }

  // Reads no further request, answers those already read (a blocking handler
  // still running included), then closes; an idle connection closes at once.
  // Callable from any thread.
  void finish() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->finish_now(); });
  }

  // The answer of a deferred request, from any thread.
  void post_deferred_answer(std::shared_ptr<DeferredSink> sink, Response res) {
    asio::post(stream_.get_executor(),
               [self = shared_from_this(), sink = std::move(sink), res = std::move(res)]() mutable {
                 self->on_deferred_answer(*sink, std::move(res));
               });
  }

 private:
  struct Slot {
    std::optional<Response> response;    // engaged once the answer is ready
    bool close_after = false;            // the answer says "Connection: close"
    size_t route_id = Router::kNoRoute;  // for options().on_answer
  };

  const HttpServerOptions& options() const { return shared_->options; }

  template <typename Member>
  auto bind(Member member) {
    return [self = shared_from_this(), member](auto&&... args) {
      ((*self).*member)(std::forward<decltype(args)>(args)...);
    };
  }

  void do_read() {
    if (closing_ || draining_ || read_stopped_ || reading_) return;
    // At the limit, on_write resumes reading once an answer has left.
    if (queue_.size() >= std::max<size_t>(1, options().max_pipelined_requests)) return;
    reading_ = true;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options().max_header_bytes));
    parser_->body_limit(options().max_body_bytes);
    if (!first_request_ && buffer_.size() == 0) {
      // Between requests the idle timeout applies; the header timeout starts
      // with the next request's first byte.
      if (buffer_.capacity() > kIdleReadBytes) buffer_.shrink_to_fit();
      stream_.expires_after(options().idle_timeout);
      stream_.async_read_some(buffer_.prepare(kIdleReadBytes), bind(&Session::on_first_bytes));
      return;
    }
    read_header();
  }

  void on_first_bytes(beast::error_code ec, size_t bytes) {
    if (ec) return on_read_error(ec);
    buffer_.commit(bytes);
    if (draining_) return drain();
    read_header();
  }

  void read_header() {
    stream_.expires_after(options().header_timeout);
    http::async_read_header(stream_, buffer_, *parser_, bind(&Session::on_header));
  }

  void on_header(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return on_read_error(ec);
    if (draining_) return drain();
    if (parser_->get().find(http::field::transfer_encoding) != parser_->get().end() &&
        !parser_->chunked()) {
      // RFC 9112 §6.3: a request whose last coding is not chunked has no length we
      // can know; reading it as framed another way is how requests get smuggled.
      reading_ = false;
      return reject(http::status::bad_request, "bad_transfer_encoding",
                    "Transfer-Encoding must end with chunked");
    }
    if (parser_->is_done()) {
      // An upgrade under an upgrade prefix leaves HTTP once earlier answers are out.
      if (const UpgradeHandler* upgrade = shared_->router.resolve_upgrade(parser_->get())) {
        reading_ = false;
        read_stopped_ = true;
        upgrade_handler_ = upgrade;
        upgrade_request_ = parser_->release();
        stamp_peer(*upgrade_request_);
        parser_.reset();
        return try_handoff();
      }
      return on_request({}, 0);
    }
    const Request& req = parser_->get();
    if (queue_.empty() && !writing_ && req.version() >= 11 &&
        beast::iequals(req[http::field::expect], std::string_view("100-continue"))) {
      // The client waits for this before sending the body; skipped while other
      // answers are pending, in which case the client sends it after its own wait.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      writing_ = true;
      stream_.expires_after(options().body_timeout);
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        bind(&Session::on_continue_written));
      return;
    }
    read_body();
  }

  void on_continue_written(beast::error_code ec, size_t /*bytes*/) {
    writing_ = false;
    if (closing_) return;
    if (ec) return close_now();
    read_body();
  }

  void read_body() {
    stream_.expires_after(options().body_timeout);
    http::async_read(stream_, buffer_, *parser_, bind(&Session::on_request));
  }

  void on_request(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return on_read_error(ec);
    if (draining_) return drain();
    reading_ = false;
    first_request_ = false;
    Request req = parser_->release();
    parser_.reset();
    handle(std::move(req));
    do_read();
    watch_for_hangup();
  }

  // While a deferred answer waits on a connection that reads no further requests
  // ("Connection: close"), a read still notices the client hanging up, which
  // abandons the answer as on a keep-alive connection.
  void watch_for_hangup() {
    if (reading_ || closing_ || draining_ || !read_stopped_ || deferred_.empty()) return;
    reading_ = true;
    stream_.expires_after(options().idle_timeout);
    stream_.async_read_some(asio::buffer(hangup_scratch_), bind(&Session::on_hangup_watch));
  }

  void on_hangup_watch(beast::error_code ec, size_t bytes) {
    reading_ = false;
    if (closing_) return;
    if (draining_) {
      if (ec) return close_now();
      drained_bytes_ += bytes;
      return drain();
    }
    if (ec) return close_now();
    // Bytes after "Connection: close" are not read as requests: dropped.
    watch_for_hangup();
  }

  void on_read_error(beast::error_code ec) {
    reading_ = false;
    if (closing_) return;
    if (draining_) return close_now();
    if (ec == http::error::end_of_stream || ec == asio::error::eof) {
      // A client that goes away while a deferred answer (a long-poll) is pending
      // has given up on it: browsers and fetch() cancel that way.
      if (!deferred_.empty()) return close_now();
      // The client has finished sending: answer what it asked, then close.
      read_stopped_ = true;
      if (queue_.empty() && !writing_) close_now();
      return;
    }
    if (ec == http::error::body_limit) {
      return reject(http::status::payload_too_large, "payload_too_large",
                    fmt::format("request body exceeds {} bytes", options().max_body_bytes));
    }
    if (ec == http::error::buffer_overflow) {
      return reject(http::status::bad_request, "framing_too_large",
                    fmt::format("chunk framing or trailers exceed {} bytes",
                                options().max_header_bytes + kFramingAllowance));
    }
    if (ec == http::error::header_limit) {
      return reject(http::status::request_header_fields_too_large, "header_too_large",
                    fmt::format("request header exceeds {} bytes", options().max_header_bytes));
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::partial_message) {
      return reject(http::status::bad_request, "bad_request",
                    fmt::format("malformed HTTP request: {}", ec.message()));
    }
    // A timeout (slow or idle client), a reset, a cut-off message: nothing to answer.
    close_now();
  }

  // Answers a request that could not be read, then closes: the rest of the
  // input cannot be trusted to start at a message boundary.
  void reject(http::status status, std::string_view code, std::string_view message) {
    read_stopped_ = true;
    queue_.emplace_back();
    Response res = error_response(status, code, message);
    finalize(res, RequestInfo{11, false, false}, options());
    fill(next_seq_++, std::move(res));
  }

  // Puts the client's address in kPeerAddressHeader (set() drops any copy the
  // client sent): the socket's peer, or behind a trusted proxy the client its
  // X-Forwarded-For names. Every request and every upgrade gets it.
  void stamp_peer(Request& req) const {
    if (options().trusted_proxies.empty()) {
      req.set(kPeerAddressHeader, peer_);
      return;
    }
    std::string forwarded;
    for (const auto& field : req) {
      if (!beast::iequals(field.name_string(), "X-Forwarded-For")) continue;
      if (!forwarded.empty()) forwarded += ',';
      forwarded += field.value();
    }
    req.set(kPeerAddressHeader, options().trusted_proxies.client(peer_, forwarded));
  }

  void handle(Request req) {
    stamp_peer(req);
    RequestInfo info{req.version(), req.keep_alive(), req.method() == http::verb::head};
    if (!info.keep_alive) read_stopped_ = true;
    uint64_t seq = next_seq_++;
    queue_.emplace_back();

    auto resolved = shared_->router.resolve(req);
    if (auto* res = std::get_if<Response>(&resolved)) {
      finalize(*res, info, options());
      return fill(seq, std::move(*res));
    }
    auto& match = std::get<RouteMatch>(resolved);
    queue_.back().route_id = match.route_id();
    if (match.kind() == RouteKind::kInline) return fill(seq, produce(match, req, info, options()));
    if (match.kind() == RouteKind::kDeferred) return run_deferred(match, std::move(req), info, seq);

    if (shared_->blocking_backlog.fetch_add(1) >= options().max_blocking_backlog) {
      shared_->blocking_backlog.fetch_sub(1);
      Response res = error_response(http::status::service_unavailable, "unavailable",
                                    "the server is busy; retry shortly");
      res.set(http::field::retry_after, "1");
      finalize(res, info, options());
      return fill(seq, std::move(res));
    }
    asio::post(shared_->blocking, [self = shared_from_this(), match = std::move(match),
                                   req = std::move(req), info, seq]() mutable {
      Response res = produce(match, req, info, self->options());
      self->shared_->blocking_backlog.fetch_sub(1);
      asio::post(self->stream_.get_executor(),
                 [self, seq, res = std::move(res)]() mutable { self->fill(seq, std::move(res)); });
    });
  }

  void run_deferred(const RouteMatch& match, Request req, RequestInfo info, uint64_t seq) {
    auto sink = std::make_shared<DeferredSink>(shared_from_this(), seq, info);
    deferred_.push_back(sink);
    std::string what =
        fmt::format("{} {}", std::string_view(req.method_string()), std::string_view(req.target()));
    try {
      match.run_deferred(std::move(req), Responder(sink));
      return;
    } catch (const std::exception& e) {
      spdlog::error("[HTTP] Handler for {} threw: {}", what, e.what());
    } catch (...) {
      spdlog::error("[HTTP] Handler for {} threw a non-exception", what);
    }
    sink->send(error_response(http::status::internal_server_error, "internal", "internal error"));
  }

  void on_deferred_answer(DeferredSink& sink, Response res) {
    std::erase_if(deferred_, [&](const auto& s) { return s.get() == &sink; });
    if (closing_ || draining_) return;
    finalize(res, sink.info(), options());
    fill(sink.seq(), std::move(res));
  }

  // Hands the connection to the upgrade handler once every earlier answer is out.
  void try_handoff() {
    if (upgrade_handler_ == nullptr || closing_ || writing_ || !queue_.empty()) return;
    const UpgradeHandler* handler = std::exchange(upgrade_handler_, nullptr);
    if (buffer_.size() != 0) {
      // The client sent more before being told the protocol switched.
      return reject(http::status::bad_request, "bad_request", "data sent before the upgrade");
    }
    closing_ = true;  // from here on this session never touches the socket
    stream_.expires_never();
    UpgradeRequest upgrade(std::move(*upgrade_request_), stream_.release_socket(),
                           std::move(ticket_));
    upgrade_request_.reset();
    try {
      (*handler)(upgrade);
    } catch (const std::exception& e) {
      spdlog::error("[HTTP] Upgrade handler threw: {}", e.what());
    } catch (...) {
      spdlog::error("[HTTP] Upgrade handler threw a non-exception");
    }
  }

  // Puts the answer to request `seq` in its slot and writes whatever is ready.
  void fill(uint64_t seq, Response res) {
    if (closing_ || draining_) return;
    assert(seq >= front_seq_ && seq - front_seq_ < queue_.size());
    Slot& slot = queue_[seq - front_seq_];
    if (options().on_answer) options().on_answer(slot.route_id, res.result_int());
    slot.close_after = !res.keep_alive();
    if (slot.close_after) read_stopped_ = true;
    slot.response = std::move(res);
    do_write();
  }

  void do_write() {
    if (closing_ || draining_ || writing_) return;
    if (queue_.empty() || !queue_.front().response) return;
    writing_ = true;
    stream_.expires_after(options().idle_timeout);
    http::async_write(stream_, *queue_.front().response, bind(&Session::on_write));
  }

  void on_write(beast::error_code ec, size_t /*bytes*/) {
    writing_ = false;
    if (closing_) return;
    if (ec) return close_now();
    bool close_after = queue_.front().close_after;
    queue_.pop_front();
    ++front_seq_;
    if (close_after) return close_gracefully();
    if (finishing_ && queue_.empty() && upgrade_handler_ == nullptr) return close_now();
    if (upgrade_handler_ != nullptr && queue_.empty()) return try_handoff();
    if (read_stopped_ && queue_.empty() && !reading_) return close_now();
    do_write();
    do_read();
  }

  // Half-closes and discards input until the client closes too (or a bound is hit).
  void close_gracefully() {
    draining_ = true;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    linger_deadline_ = std::chrono::steady_clock::now() + kLingerTimeout;
    if (!reading_) drain();  // else the pending read's handler continues here
  }

  void drain() {
    buffer_.clear();
    if (drained_bytes_ > kMaxLingerBytes) return close_now();
    reading_ = true;
    stream_.expires_at(linger_deadline_);
    stream_.async_read_some(buffer_.prepare(kIdleReadBytes), bind(&Session::on_drained));
  }

  void on_drained(beast::error_code ec, size_t bytes) {
    reading_ = false;
    if (closing_) return;
    if (ec) return close_now();
    drained_bytes_ += bytes;
    drain();
  }

  void finish_now() {
    if (closing_ || draining_) return;
    finishing_ = true;
    read_stopped_ = true;  // a read in progress is cancelled by the close
    if (queue_.empty() && !writing_ && deferred_.empty() && upgrade_handler_ == nullptr) {
      close_now();
    }
  }

  void close_now() {
    if (closing_) return;
    closing_ = true;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    // The queue stays: a pending write still refers to its front.
    for (auto& sink : std::exchange(deferred_, {})) sink->abandon();
  }

  beast::tcp_stream stream_;
  std::shared_ptr<ServerShared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::deque<Slot> queue_;
  char hangup_scratch_[64]{};
  std::string peer_;                  // the client's address, for kPeerAddressHeader
  ConnectionLimiter::Ticket ticket_;  // this connection's place under the caps
  std::vector<std::shared_ptr<DeferredSink>> deferred_;  // deferred requests not answered yet
  const UpgradeHandler* upgrade_handler_ = nullptr;      // an upgrade waits for earlier answers
  std::optional<Request> upgrade_request_;
  uint64_t front_seq_ = 0;  // the request number of queue_.front()
  uint64_t next_seq_ = 0;
  std::chrono::steady_clock::time_point linger_deadline_;
  size_t drained_bytes_ = 0;
  bool first_request_ = true;
  bool reading_ = false;
  bool writing_ = false;
  bool finishing_ = false;     // finish(): answer what was read, then close
  bool read_stopped_ = false;  // no further request will be read
  bool draining_ = false;      // sending is over; input is read and dropped
  bool closing_ = false;       // the socket is closed
};

void DeferredSink::send(Response res) {
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(mu_);
    if (state_ != State::kPending) return;
    state_ = State::kSent;
    on_abandoned_ = nullptr;
    session = std::move(session_);
  }
  session->post_deferred_answer(shared_from_this(), std::move(res));
}

std::string bind_failure(const HttpServerOptions& options, const beast::error_code& ec) {
  if (ec == asio::error::address_in_use) {
    return fmt::format("port {} is already in use", options.port);
  }
  if (ec == asio::error::access_denied) {
    return fmt::format("permission denied for port {} (ports below 1024 need privileges)",
                       options.port);
  }
  if (ec == boost::system::errc::address_not_available) {
    return fmt::format("address {} is not one of this machine's", options.host);
  }
  return ec.message();
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, Router router)
      : ioc_(std::max(1, options.io_threads)),
        shared_(
            std::make_shared<ServerShared>(std::move(options), std::move(router), blocking_ioc_)),
        acceptor_(asio::make_strand(ioc_)),
        accept_retry_(acceptor_.get_executor()) {}

  ~Impl() {
    assert(tls_server != shared_.get() && "an HttpServer must not be destroyed by its own threads");
    stop();
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status start() {
    std::lock_guard lifecycle(lifecycle_mu_);
    const HttpServerOptions& options = shared_->options;
    if (started_) return make_error(ErrorCode::kConflict, "the HTTP server was already started");
    started_ = true;
    auto fail = [&](ErrorCode code, std::string_view why) {
      beast::error_code ignored;
      acceptor_.close(ignored);
      return Status(make_error(
          code, fmt::format("cannot listen on {}:{}: {}", options.host, options.port, why)));
    };

    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(options.host, std::to_string(options.port),
                                      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || endpoints.empty()) {
      return fail(ErrorCode::kInvalidArgument,
                  fmt::format("host does not resolve ({})", ec ? ec.message() : "no address"));
    }
    tcp::endpoint endpoint = endpoints.begin()->endpoint();
    if (acceptor_.open(endpoint.protocol(), ec)) return fail(ErrorCode::kUnavailable, ec.message());
    // Lets a restarted server bind while old connections linger in TIME_WAIT; on
    // Linux it does not let two servers listen on one port.
    if (acceptor_.set_option(asio::socket_base::reuse_address(true), ec)) {
      return fail(ErrorCode::kUnavailable, ec.message());
    }
    if (acceptor_.bind(endpoint, ec)) {
      return fail(ErrorCode::kUnavailable, bind_failure(options, ec));
    }
    if (acceptor_.listen(asio::socket_base::max_listen_connections, ec)) {
      return fail(ErrorCode::kUnavailable, bind_failure(options, ec));
    }
    port_ = acceptor_.local_endpoint().port();
    {
      std::lock_guard lock(shared_->mu);
      if (shared_->stopping) return fail(ErrorCode::kUnavailable, "the server is stopping");
      shared_->running = true;
    }

    do_accept();
    blocking_work_.emplace(blocking_ioc_.get_executor());
    for (int i = 0; i < std::max(1, options.io_threads); ++i) {
      io_threads_.push_back(start_named_thread("http-io", [this] { run(ioc_); }));
    }
    for (int i = 0; i < std::max(1, options.blocking_threads); ++i) {
      blocking_threads_.push_back(
          start_named_thread("http-blocking", [this] { run(blocking_ioc_); }));
    }
    spdlog::debug("[HTTP] Listening on {}:{}", options.host, port_.load());
    return Status::ok();
  }

  uint16_t port() const { return port_; }

  // stop_accepting(), then every connection answers what it has read and
  // closes; waits until none is left or `within` has passed.
  void drain(std::chrono::milliseconds within) {
    stop_accepting();
    std::vector<std::weak_ptr<Session>> sessions;
    {
      std::lock_guard lock(shared_->mu);
      if (!shared_->running || shared_->stopping) return;
      sessions.reserve(shared_->sessions.size());
      for (auto& [ptr, weak] : shared_->sessions) sessions.push_back(weak);
    }
    for (auto& weak : sessions) {
      if (auto session = weak.lock()) session->finish();
    }
    const auto deadline = std::chrono::steady_clock::now() + within;
    for (;;) {
      {
        std::lock_guard lock(shared_->mu);
        if (shared_->sessions.empty()) return;
      }
      if (std::chrono::steady_clock::now() >= deadline) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  void stop_accepting() {
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      accept_retry_.cancel();
    });
  }

  void stop() {
    begin_stop();
    if (tls_server == shared_.get()) return;  // joining our own thread would deadlock
    join();
  }

 private:
  void run(asio::io_context& ioc) {
    tls_server = shared_.get();
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("[HTTP] Unexpected exception on a server thread: {}", e.what());
      }
    }
  }

  void do_accept() {
    acceptor_.async_accept(
        asio::make_strand(ioc_),
        [this](beast::error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // Typically out of file descriptors: wait a little instead of spinning.
      spdlog::warn("[HTTP] Accept failed: {}", ec.message());
      accept_retry_.expires_after(kAcceptRetryDelay);
      accept_retry_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && acceptor_.is_open()) do_accept();
      });
      return;
    }
    beast::error_code ignored;
    std::string peer;
    bool proxy = false;
    if (const tcp::endpoint remote = socket.remote_endpoint(ignored); !ignored) {
      peer = remote.address().to_string();
      proxy = shared_->options.trusted_proxies.trusts(remote.address());
    }
    ConnectionLimiter::Refusal why{};
    // A trusted proxy's connections are its clients': only the total caps them
    // (the per-address limits above the socket see the clients themselves).
    ConnectionLimiter::Ticket ticket =
        proxy ? shared_->limiter->admit_total_only(&why) : shared_->limiter->admit(peer, &why);
    if (!ticket) {
      refuse(std::move(socket), why);
    } else {
      socket.set_option(tcp::no_delay(true), ignored);  // answers are small; do not delay them
      std::make_shared<Session>(std::move(socket), shared_, std::move(peer), std::move(ticket))
          ->start();
    }
    do_accept();
  }

  // Over a connection cap: one canned 503 written without waiting (it fits any
  // socket buffer), then close. Never a hang, never a session.
  static void refuse(tcp::socket socket, ConnectionLimiter::Refusal why) {
    const std::string_view body =
        why == ConnectionLimiter::Refusal::kTotal
            ? R"({"code":"too_many_connections","message":"the server is at capacity"})"
            : R"({"code":"too_many_connections","message":"too many connections from this address"})";
    const std::string answer = fmt::format(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: "
        "5\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{}",
        body.size(), body);
    beast::error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(answer.data(), answer.size()), ignored);
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  // Closes the acceptor and every connection; threads end once their work is gone.
  void begin_stop() {
    std::vector<std::weak_ptr<Session>> sessions;
    {
      std::lock_guard lock(shared_->mu);
      if (shared_->stopping) return;
      shared_->stopping = true;
      if (!shared_->running) return;
      sessions.reserve(shared_->sessions.size());
      for (auto& [ptr, weak] : shared_->sessions) sessions.push_back(weak);
    }
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      accept_retry_.cancel();
    });
    // Locked outside the mutex: dropping the last reference runs ~Session, which locks it.
    for (auto& weak : sessions) {
      if (auto session = weak.lock()) session->close();
    }
  }

  void join() {
    std::lock_guard lifecycle(lifecycle_mu_);
    for (auto& t : io_threads_) t.join();
    io_threads_.clear();
    // Handlers already running finish; queued ones are dropped with their connections.
    blocking_ioc_.stop();
    for (auto& t : blocking_threads_) t.join();
    blocking_threads_.clear();
  }

  // Declaration order is destruction order reversed: the pool's queued tasks hold
  // sessions whose sockets need ioc_, so blocking_ioc_ goes first.
  asio::io_context ioc_;
  asio::io_context blocking_ioc_;
  std::shared_ptr<ServerShared> shared_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> blocking_work_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  std::atomic<uint16_t> port_{0};
  std::mutex lifecycle_mu_;  // start() and join()
  bool started_ = false;
  std::vector<std::thread> io_threads_;
  std::vector<std::thread> blocking_threads_;
};

HttpServer::HttpServer(HttpServerOptions options, Router router)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(router))) {}

HttpServer::~HttpServer() = default;

Status HttpServer::start() {
  return impl_->start();
}

uint16_t HttpServer::port() const {
  return impl_->port();
}

void HttpServer::stop() {
  impl_->stop();
}

void HttpServer::stop_accepting() {
  impl_->stop_accepting();
}

void HttpServer::drain(std::chrono::milliseconds within) {
  impl_->drain(within);
}

}  // namespace insightd::net
