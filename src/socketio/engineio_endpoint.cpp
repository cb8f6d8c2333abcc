#include "socketio/engineio_endpoint.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cassert>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/arrival_rate.h"
#include "core/thread_name.h"
#include "net/coalescing_stream.h"
#include "net/router.h"
#include "net/upgrade.h"
#include "net/ws_frames.h"

namespace insightd::socketio {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Strand = asio::strand<asio::io_context::executor_type>;

// Opening and closing handshakes of a WebSocket must finish within this.
constexpr std::chrono::seconds kWsHandshakeTimeout{10};
// Outgoing bytes beyond the session's queue bound that a connection may hold for
// frames Beast writes by itself (pongs, the close frame).
constexpr size_t kControlFrameAllowance = size_t{64} * 1024;
// stop() gives sessions this long to say goodbye before the threads end.
constexpr std::chrono::milliseconds kStopGrace{1000};
// Messages received per second are measured over windows this long.
constexpr std::chrono::milliseconds kReadRateWindow{20};

// Posting into an io_context that is being destroyed is undefined: the gate closes
// (under its lock) before the threads stop, and posts after that are dropped.
struct Gate {
  std::mutex mu;
  bool open = true;
};

class StrandTimer final : public Timer {
 public:
  explicit StrandTimer(const Strand& strand) : state_(std::make_shared<State>(strand)) {}
  ~StrandTimer() override { cancel(); }

  void start(Millis delay, std::function<void()> fn) override {
    uint64_t generation = ++state_->generation;
    state_->timer.expires_after(delay);
    state_->timer.async_wait(
        [state = state_, generation, fn = std::move(fn)](const boost::system::error_code& ec) {
          // A wait that was cancelled or replaced may still complete "successfully"
          // when it raced with the cancel; the generation tells.
          if (ec || state->generation.load() != generation) return;
          fn();
        });
  }

  void cancel() override {
    ++state_->generation;
    state_->timer.cancel();
  }

 private:
  struct State {
    explicit State(const Strand& strand) : timer(strand) {}
    asio::steady_timer timer;
    std::atomic<uint64_t> generation{0};
  };
  std::shared_ptr<State> state_;
};

class StrandContext final : public SessionContext {
 public:
  StrandContext(Strand strand, std::shared_ptr<Gate> gate)
      : strand_(std::move(strand)), gate_(std::move(gate)) {}

  void post(std::function<void()> task) override {
    std::lock_guard lock(gate_->mu);
    if (gate_->open) asio::post(strand_, std::move(task));
  }

  void dispatch(std::function<void()> task) override {
    if (strand_.running_in_this_thread()) return task();
    post(std::move(task));
  }

  bool running_here() const override { return strand_.running_in_this_thread(); }

  std::unique_ptr<Timer> make_timer() override { return std::make_unique<StrandTimer>(strand_); }

  const Strand& strand() const { return strand_; }

 private:
  Strand strand_;
  std::shared_ptr<Gate> gate_;
};

void add_cors(net::Response& res, const std::string& origin) {
  if (origin.empty()) return;
  res.set(http::field::access_control_allow_origin, origin);
  if (origin != "*") {
    res.set(http::field::access_control_allow_credentials, "true");
    res.set(http::field::vary, "Origin");
  }
}

net::Response to_response(const HttpAnswer& answer, const std::string& cors_origin) {
  net::Response res{static_cast<http::status>(answer.status), 11};
  res.set(http::field::content_type, answer.content_type);
  res.set(http::field::cache_control, "no-store");
  add_cors(res, cors_origin);
  res.body() = answer.body;
  return res;
}

std::string_view query_of(std::string_view target) {
  size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

// Whether the query names a session: anything else is a handshake.
bool names_session(std::string_view query) {
  for (size_t at = 0; at <= query.size();) {
    const size_t end = std::min(query.find('&', at), query.size());
    if (query.substr(at, end - at).starts_with("sid=")) return true;
    at = end + 1;
  }
  return false;
}

constexpr std::string_view kRefusedRetryAfter = "5";

std::string_view refusal_message(net::ConnectionLimiter::Refusal why) {
  return why == net::ConnectionLimiter::Refusal::kRate
             ? "too many handshakes from this address; retry shortly"
             : "too many sessions from this address";
}

class ResponderReply final : public HttpReply {
 public:
  ResponderReply(net::Responder responder, std::string cors_origin)
      : responder_(std::move(responder)), cors_origin_(std::move(cors_origin)) {}

  void send(HttpAnswer answer) override { responder_.send(to_response(answer, cors_origin_)); }
  void on_abandoned(std::function<void()> fn) override { responder_.on_abandoned(std::move(fn)); }

 private:
  net::Responder responder_;
  std::string cors_origin_;
};

// One WebSocket connection. Beast answers the opening handshake; after that the
// connection reads and parses frames itself (net::WsFrameParser): one socket read
// brings many small messages under load, and they are all delivered before the
// next read, instead of one asynchronous Beast read per message. It answers
// pings, runs the closing handshake, and ends the connection with the right
// close code on a protocol violation. Writes go through the CoalescingStream.
// Touched only on its strand, which is its session's.
//
// Memory: thousands of these sit idle at once, so an idle one holds as little as
// it can (see docs/BENCHMARKS.md, "Idle WebSocket connections"). It waits for its
// socket to become readable holding no buffer: reads land in the thread's scratch
// area, and only a partial frame's bytes are kept (`held_`); the next layer is
// the bare socket (a beast::tcp_stream carries three timers this connection never
// uses); the upgrade request, the session target and a refusal live only in the
// operations that need them.
// What the WebSocket connections of one endpoint count, shared by its threads.
struct ConnectionTally {
  std::atomic<size_t> live{0};
  std::atomic<uint64_t> reads{0};     // socket reads that returned bytes
  std::atomic<uint64_t> messages{0};  // complete messages received
};

class WsConnection final : public WsChannel, public std::enable_shared_from_this<WsConnection> {
 public:
  WsConnection(tcp::socket socket, EngineServer* server, ConnectionTally* tally,
               std::shared_ptr<const void> ticket)
      : ws_(std::move(socket)),
        server_(server),
        tally_(tally),
        ticket_(std::move(ticket)),
        parser_(server->options().max_payload) {
    ++tally_->live;
  }
  ~WsConnection() override { --tally_->live; }

  void accept(const net::Request& request, EngineServer::WsTarget target) {
    ws_.set_option(websocket::stream_base::timeout{kWsHandshakeTimeout,
                                                   websocket::stream_base::none(), false});
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "insightd"); }));
    // What may wait to be sent on this connection: one burst of the session's queue
    // plus control frames (pongs, the close frame). A peer that reads nothing is cut
    // off at that bound, or when one write has waited a ping timeout.
    ws_.next_layer().set_limits(server_->options().max_queued_bytes + kControlFrameAllowance,
                                server_->options().ping_timeout);
    ws_.auto_fragment(false);
    // Beast builds its answer from the request here and keeps nothing of it.
    ws_.async_accept(request, [self = shared_from_this(), target = std::move(target)](
                                  beast::error_code ec) { self->on_accept(ec, target); });
  }

  // Answers the upgrade request with an HTTP error instead of switching protocols.
  void reject(http::status status, std::string_view message, std::string_view retry_after = {}) {
    struct Refusal {
      explicit Refusal(const asio::any_io_executor& ex) : deadline(ex) {}
      http::response<http::string_body> response;
      asio::steady_timer deadline;
    };
    auto refusal = std::make_shared<Refusal>(socket().get_executor());
    auto& res = refusal->response;
    res.result(status);
    res.version(11);
    res.set(http::field::content_type, "application/json");
    if (!retry_after.empty()) res.set(http::field::retry_after, retry_after);
    res.set(http::field::connection, "close");
    res.body() = boost::json::serialize(boost::json::object{{"code", 3}, {"message", message}});
    res.prepare_payload();
    // A peer that does not take the answer within the handshake timeout is cut off.
    refusal->deadline.expires_after(kWsHandshakeTimeout);
    refusal->deadline.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->close_socket();
    });
    http::async_write(socket(), res,
                      [self = shared_from_this(), refusal](beast::error_code, size_t) {
                        refusal->deadline.cancel();
                        self->close_socket();
                      });
  }

  // The frames are encoded here and leave in one socket write. (No
  // permessage-deflate is negotiated, so frames go out as is.)
  void write(std::vector<WsFrame> frames) override {
    if (closing_ || close_requested_) return;
    writing_ = true;
    size_t size = 0;
    for (const auto& frame : frames) size += frame.data.size() + 11;
    std::string bytes;
    bytes.reserve(size);
    for (const auto& frame : frames) {
      net::append_server_frame(bytes, frame.binary, frame.lead, frame.data);
    }
    auto& out = ws_.next_layer();
    out.append(std::move(bytes));
    out.on_drained([self = shared_from_this()](beast::error_code ec) { self->on_written(ec); });
  }

  void close() override {
    close_requested_ = true;
    if (!writing_ && !closing_) start_closing(net::kWsCloseNormal);
  }

  // A paused connection reads nothing more: the peer's bytes wait in the kernel
  // (and the rest of one read here) and TCP flow control slows the peer down.
  void pause_reading(bool paused) override {
    read_paused_ = paused;
    if (paused || !read_stalled_) return;
    read_stalled_ = false;
    resume_reading();
  }

  // Closes the TCP connection at once. Only once no thread runs the io_context:
  // it bypasses the strand.
  void force_close() {
    beast::error_code ignored;
    socket().close(ignored);
  }

 private:
  tcp::socket& socket() { return ws_.next_layer().next_layer(); }

  void on_accept(beast::error_code ec, const EngineServer::WsTarget& target) {
    if (ec) return close_socket();
    // Refused (the session caps), the server has already asked for the close:
    // reading goes on all the same, for the peer's close frame and its end.
    if (auto session = server_->attach_websocket(target, shared_from_this())) session_ = session;
    socket().non_blocking(true, ec);
    if (ec) return close_socket();
    read_some();
  }

  // Bytes one read takes at most; they land in the thread's scratch area first,
  // so a connection waiting for its peer keeps no read buffer.
  static constexpr size_t kReadChunk = size_t{16} * 1024;
  // Full reads in a row before other connections get their turn.
  static constexpr int kReadsPerTurn = 4;

  static char* read_scratch() {
    thread_local std::unique_ptr<char[]> scratch;
    if (!scratch) scratch = std::make_unique<char[]>(kReadChunk);
    return scratch.get();
  }

  // Reads what the socket has, without waiting, and handles every complete frame
  // in it; waits for the socket to become readable once it has nothing. While
  // lingering (our close frame is out and the sending side shut), what arrives
  // is discarded until the peer's end.
  //
  // The scratch area is the thread's: it must not be read into again while its
  // frames are handled. Nothing does: a session never resumes another
  // connection's reading from inside its own handler (other sessions run on
  // other strands, which dispatch posts to), and this one's is guarded
  // (`handling_`).
  void read_some() {
    read_armed_ = false;
    for (int round = 0; round < kReadsPerTurn; ++round) {
      if (socket_closed_ || (stop_reading_ && !lingering_)) return;
      if (read_paused_ && !closing_) {
        read_stalled_ = true;
        return;
      }
      char* const scratch = read_scratch();
      beast::error_code ec;
      const size_t got = socket().read_some(asio::buffer(scratch, kReadChunk), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) return wait_readable();
      if (ec) return close_socket();  // the peer's end, or a failed socket
      tally_->reads.fetch_add(1, std::memory_order_relaxed);
      if (!lingering_ && !consume(scratch, got)) return;
      if (got < kReadChunk) return wait_readable();
    }
    // A peer that keeps the socket full yields to the others, then goes on.
    read_armed_ = true;
    asio::post(socket().get_executor(), [self = shared_from_this()] { self->read_some(); });
  }

  void wait_readable() {
    read_armed_ = true;
    socket().async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->close_socket();
      self->read_some();
    });
  }

  // Handles the frames in data[0, size) (the bytes just read); keeps what is left
  // (a partial frame, or frames not read while paused). False when reading stops.
  bool consume(char* data, size_t size) {
    if (held_.empty()) {
      size_t used = 0;
      const bool go_on = handle_frames(data, size, used);
      if (used < size) held_.assign(data + used, size - used);
      return go_on;
    }
    held_.append(data, size);
    return consume_held();
  }

  bool consume_held() {
    size_t used = 0;
    const bool go_on = handle_frames(held_.data(), held_.size(), used);
    held_.erase(0, used);
    // A burst's (or a long message's) worth of buffer is not kept once handled.
    if (held_.empty() && held_.capacity() > kReadChunk) {
      std::string().swap(held_);
    } else if (held_.capacity() > 4 * kReadChunk && held_.size() < kReadChunk) {
      held_.shrink_to_fit();
    }
    return go_on;
  }

  // Delivers complete frames from the start of `data` until none is left, reading
  // is paused, or the connection ends; `used` is how many bytes were taken.
  bool handle_frames(char* data, size_t size, size_t& used) {
    std::shared_ptr<EngineSession> session = session_.lock();
    handling_ = true;
    struct Done {
      bool& flag;
      ~Done() { flag = false; }
    } done{handling_};
    used = 0;
    while (used < size) {
      if (read_paused_ && !closing_) {
        read_stalled_ = true;
        return false;
      }
      size_t n = 0;
      net::WsFrameParser::Item item = parser_.next(data + used, size - used, n);
      used += n;
      switch (item.kind) {
        case net::WsFrameParser::Kind::kNeedMore:
          return true;
        case net::WsFrameParser::Kind::kFragment:
        case net::WsFrameParser::Kind::kPong:
          break;
        case net::WsFrameParser::Kind::kMessage:
          if (closing_) break;  // after our close frame, data is discarded
          if (!session) {
            close();
            break;
          }
          tally_->messages.fetch_add(1, std::memory_order_relaxed);
          session->on_ws_frame(*this, item.binary, item.payload);
          break;
        case net::WsFrameParser::Kind::kPing:
          if (!closing_) ws_.next_layer().append(net::make_server_frame(0xA, item.payload));
          break;
        case net::WsFrameParser::Kind::kClose:
          on_peer_close(item.close_code);
          return false;
        case net::WsFrameParser::Kind::kError:
          stop_reading_ = true;
          if (!closing_) {
            closing_ = true;
            send_close_then_end(item.close_code);
          } else {
            end_after_drain();  // our close frame is out already
          }
          report_closed();  // the session is done with it; the socket lingers
          return false;
      }
      if (reported_) return false;
    }
    return true;
  }

  void resume_reading() {
    // Resumed by a message being delivered: the loop under way goes on.
    if (handling_ || reported_ || stop_reading_) return;
    if (!held_.empty() && !consume_held()) return;
    read_some();
  }

  void on_written(beast::error_code ec) {
    writing_ = false;
    if (ec) return close_socket();
    if (close_requested_) return start_closing(net::kWsCloseNormal);
    if (auto session = session_.lock()) session->on_ws_written(*this);
  }

  // Our side of the closing handshake: the close frame, then reading on (data
  // discarded) until the peer's close frame or its end, within the handshake
  // timeout.
  void start_closing(uint16_t code) {
    if (closing_ || reported_) return;
    closing_ = true;
    ws_.next_layer().append(net::make_close_frame(code));
    arm_close_deadline();
    if (read_paused_) {
      read_paused_ = false;
      if (std::exchange(read_stalled_, false)) resume_reading();
    }
  }

  void on_peer_close(uint16_t code) {
    stop_reading_ = true;
    if (closing_) {
      end_after_drain();  // the answer to ours
    } else {
      closing_ = true;
      send_close_then_end(code);
    }
    // The session hears of it at once; the socket lingers for the peer's end.
    report_closed();
  }

  // Answers with a close frame (the peer's code, or ours on a violation) and
  // closes the socket once it has left.
  void send_close_then_end(uint16_t code) {
    ws_.next_layer().append(net::make_close_frame(code));
    end_after_drain();
  }

  // Once our close frame has left: shuts our sending side and reads (and
  // discards) until the peer's end, within the deadline, as RFC 6455 §7.1.1
  // has a server do. Closing at once while the peer still sends (a message
  // over the size bound, say) would reset the connection and could lose the
  // close frame, and with it the code.
  void end_after_drain() {
    arm_close_deadline();
    if (std::exchange(end_requested_, true)) return;
    ws_.next_layer().on_drained([self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->close_socket();
      self->linger();
    });
  }

  void linger() {
    if (socket_closed_) return;
    beast::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_send, ignored);
    lingering_ = true;
    held_.clear();
    if (!read_armed_ && !handling_) read_some();
  }

  void arm_close_deadline() {
    if (close_deadline_) return;
    close_deadline_ = std::make_unique<asio::steady_timer>(socket().get_executor());
    close_deadline_->expires_after(kWsHandshakeTimeout);
    close_deadline_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->close_socket();
    });
  }

  void close_socket() {
    closing_ = true;  // a close() from the session, on hearing of this, has nothing to do
    socket_closed_ = true;
    beast::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
    if (close_deadline_) close_deadline_->cancel();
    report_closed();
  }

  void report_closed() {
    if (reported_) return;
    reported_ = true;
    if (auto session = session_.lock()) session->on_ws_closed(*this);
  }

  // No permessage-deflate is ever negotiated: the stream is built without it.
  // Only its handshake is used; frames are read and written below it.
  websocket::stream<net::CoalescingStream<tcp::socket>, false> ws_;
  EngineServer* const server_;  // outlives every connection: see EngineEndpoint::Impl
  ConnectionTally* const tally_;
  std::shared_ptr<const void> ticket_;  // the connection's place under the HTTP server's caps
  std::weak_ptr<EngineSession> session_;
  net::WsFrameParser parser_;
  std::string held_;  // bytes read and not yet handled (usually none)
  std::unique_ptr<asio::steady_timer> close_deadline_;  // only while closing
  bool writing_ = false;
  bool close_requested_ = false;
  bool closing_ = false;        // our close frame is out (or going)
  bool stop_reading_ = false;   // the peer closed or broke the protocol
  bool read_paused_ = false;    // backpressure from the session
  bool read_stalled_ = false;   // a read is owed once reading resumes
  bool handling_ = false;       // handle_frames is under way (it goes on by itself)
  bool read_armed_ = false;     // a wait for the socket, or a read, is on its way
  bool end_requested_ = false;  // the connection ends once our close frame is out
  bool lingering_ = false;      // our side is shut: reading only for the peer's end
  bool socket_closed_ = false;
  bool reported_ = false;
};

}  // namespace

// Shared with the routes, which the router (and so the HttpServer) may keep after
// the endpoint object is gone. Member order is destruction order reversed: the
// engine (and with it every session) goes before the io_context its timers use.
class EngineEndpoint::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(EndpointOptions options, EngineOptions engine, EngineServer::HandlerFactory new_handler)
      : options_(std::move(options)),
        session_limiter_(options_.session_limiter
                             ? options_.session_limiter
                             : net::ConnectionLimiter::make(options_.session_caps)),
        gate_(std::make_shared<Gate>()),
        engine_(
            engine, [this] { return new_context(); }, std::move(new_handler)) {}

  ~Impl() { stop(); }

  void mount(net::Router& router) {
    std::shared_ptr<Impl> self = shared_from_this();
    auto polling = [self](net::Request req, const net::PathParams&, net::Responder responder) {
      self->on_http(std::move(req), std::move(responder));
    };
    for (http::verb verb : {http::verb::get, http::verb::head, http::verb::post, http::verb::put,
                            http::verb::delete_, http::verb::patch, http::verb::options}) {
      router.add_prefix(verb, options_.path, polling);
    }
    router.add_upgrade_prefix(options_.path,
                              [self](net::UpgradeRequest& up) { self->on_upgrade(up); });
  }

  Status start() {
    std::lock_guard lock(lifecycle_mu_);
    if (started_)
      return make_error(ErrorCode::kConflict, "the Engine.IO endpoint was already started");
    if (stopped_) return make_error(ErrorCode::kUnavailable, "the Engine.IO endpoint was stopped");
    started_ = true;
    work_.emplace(ioc_.get_executor());
    for (int i = 0; i < std::max(1, options_.threads); ++i) {
      threads_.push_back(start_named_thread("socketio", [this] { run(); }));
    }
    return Status::ok();
  }

  void stop() {
    std::lock_guard lock(lifecycle_mu_);
    if (stopped_.exchange(true)) return;
    assert(!own_thread() && "an EngineEndpoint must not be stopped from its own threads");
    engine_.close_all("server shutting down");
    if (started_) {
      // Lets waiting polls get their close packet and WebSockets their close frame.
      auto deadline = std::chrono::steady_clock::now() + kStopGrace;
      while ((engine_.session_count() > 0 || tally_.live > 0) &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    {
      std::lock_guard gate_lock(gate_->mu);
      gate_->open = false;
    }
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    // Peers that did not finish the closing handshake in time still hold a socket;
    // without threads nothing else will ever close it.
    std::lock_guard connections_lock(connections_mu_);
    for (auto& weak : connections_) {
      if (auto connection = weak.lock()) connection->force_close();
    }
    connections_.clear();
  }

  EngineServer& engine() { return engine_; }

  EngineEndpoint::ReadCounts read_counts() const {
    return {tally_.reads.load(std::memory_order_relaxed),
            tally_.messages.load(std::memory_order_relaxed)};
  }

 private:
  std::shared_ptr<StrandContext> new_context() {
    return std::make_shared<StrandContext>(asio::make_strand(ioc_), gate_);
  }

  void run() {
    tls_endpoint = this;
    for (;;) {
      try {
        run_gathering();
        return;
      } catch (const std::exception& e) {
        spdlog::error("[Engine.IO] Unexpected exception on a session thread: {}", e.what());
      }
    }
  }

  // Runs the handlers as they become ready while the sockets are quiet. While
  // they deliver read_gathering.from_rate messages a second or more, the thread
  // instead handles all that is ready once every read_gathering.every (at
  // once when the last round took that long): each wake-up reads several
  // messages from each busy socket (the kernel acknowledges each read) rather
  // than one or two, and costs one sleep rather than one epoll wait per
  // readable socket.
  void run_gathering() {
    const EndpointOptions::ReadGathering& gather = options_.read_gathering;
    if (gather.from_rate <= 0) {
      ioc_.run();
      return;
    }
    ArrivalRate rate(kReadRateWindow);
    uint64_t seen = tally_.messages.load(std::memory_order_relaxed);
    ArrivalRate::Clock::time_point last_poll;
    while (!ioc_.stopped()) {
      const uint64_t total = tally_.messages.load(std::memory_order_relaxed);
      rate.add(total - seen, ArrivalRate::Clock::now());
      seen = total;
      if (rate.rate() >= gather.from_rate) {
        // One poll every `every` at most: a thread whose polls take that long
        // (it is saturated) never sleeps. Measured again after this: what
        // arrived during the sleep counts.
        std::this_thread::sleep_until(last_poll + gather.every);
        last_poll = ArrivalRate::Clock::now();
        ioc_.poll();
      } else if (rate.rate() > 0) {
        ioc_.run_for(kReadRateWindow);  // measures again once it returns
      } else {
        ioc_.run_one();  // quiet: sleeps until there is something to do
      }
    }
  }

  bool own_thread() const { return tls_endpoint == this; }

  void on_http(net::Request req, net::Responder responder) {
    if (req.method() == http::verb::options) {
      // A CORS preflight: what a browser asks before a cross-origin POST.
      net::Response res{http::status::no_content, 11};
      add_cors(res, options_.cors_origin);
      if (!options_.cors_origin.empty()) {
        res.set(http::field::access_control_allow_methods, "GET,HEAD,PUT,PATCH,POST,DELETE");
        auto asked = req[http::field::access_control_request_headers];
        if (!asked.empty()) res.set(http::field::access_control_allow_headers, asked);
      }
      return responder.send(std::move(res));
    }
    if (stopped_) {
      HttpAnswer gone{503, "application/json", R"({"code":3,"message":"Server stopped"})"};
      return responder.send(to_response(gone, options_.cors_origin));
    }
    std::string_view query = query_of(req.target());
    EngineServer::Admission admission;
    if (req.method() == http::verb::get && !names_session(query)) {
      net::ConnectionLimiter::Refusal why{};
      admission = session_limiter_->admit(std::string(req[net::kPeerAddressHeader]), &why);
      if (!admission) {
        HttpAnswer refused{503, "application/json",
                           boost::json::serialize(boost::json::object{
                               {"code", 3}, {"message", refusal_message(why)}})};
        net::Response res = to_response(refused, options_.cors_origin);
        res.set(http::field::retry_after, kRefusedRetryAfter);
        return responder.send(std::move(res));
      }
    }
    auto reply = std::make_shared<ResponderReply>(std::move(responder), options_.cors_origin);
    engine_.handle_http(req.method_string(), query, req[http::field::content_type],
                        std::move(req.body()), std::move(reply), std::move(admission));
  }

  void on_upgrade(net::UpgradeRequest& up) {
    if (stopped_) return;  // the connection closes when this returns
    auto target = engine_.resolve_websocket(query_of(up.request().target()));
    std::shared_ptr<StrandContext> context =
        target ? std::static_pointer_cast<StrandContext>(target->context) : new_context();
    // The socket moves from the HTTP server's io_context to this endpoint's strand.
    boost::system::error_code ec;
    tcp::endpoint local = up.socket().local_endpoint(ec);
    if (ec) return;
    std::optional<net::ConnectionLimiter::Refusal> refused;
    if (target && !target->session) {
      // The client's address as the HTTP server saw it (behind a trusted proxy,
      // from X-Forwarded-For), like a polling handshake's.
      std::string client(net::peer_address(up.request()));
      if (client.empty()) {
        const tcp::endpoint remote = up.socket().remote_endpoint(ec);
        if (ec) return;
        client = remote.address().to_string();
      }
      net::ConnectionLimiter::Refusal why{};
      target->admission = session_limiter_->admit(client, &why);
      if (!target->admission) refused = why;
    }
    auto native = up.socket().release(ec);
    if (ec) return;
    tcp::socket socket(context->strand());
    socket.assign(local.protocol(), native, ec);
    if (ec) {
      spdlog::warn("[Engine.IO] Could not take over a WebSocket: {}", ec.message());
      return;
    }
    auto connection =
        std::make_shared<WsConnection>(std::move(socket), &engine_, &tally_, up.take_ticket());
    remember(connection);
    context->post([connection, request = std::move(up.request()), target = std::move(target),
                   refused]() mutable {
      if (refused) {
        return connection->reject(http::status::service_unavailable, refusal_message(*refused),
                                  kRefusedRetryAfter);
      }
      if (target) return connection->accept(request, std::move(*target));
      auto status = target.code() == ErrorCode::kUnavailable ? http::status::service_unavailable
                                                             : http::status::bad_request;
      connection->reject(status, target.error().message);
    });
  }

  void remember(const std::shared_ptr<WsConnection>& connection) {
    std::lock_guard lock(connections_mu_);
    // Gone connections are pruned whenever the list doubles: amortised O(1).
    if (connections_.size() >= prune_at_) {
      std::erase_if(connections_, [](const auto& weak) { return weak.expired(); });
      prune_at_ = std::max<size_t>(64, connections_.size() * 2);
    }
    connections_.push_back(connection);
  }

  static thread_local const Impl* tls_endpoint;

  const EndpointOptions options_;
  const std::shared_ptr<net::ConnectionLimiter> session_limiter_;  // per-address session caps
  // Told how many threads run it: with one, asio queues the handlers this thread
  // posts without taking the scheduler's lock.
  asio::io_context ioc_{std::max(1, options_.threads)};
  std::shared_ptr<Gate> gate_;
  ConnectionTally tally_;
  EngineServer engine_;
  std::mutex lifecycle_mu_;
  bool started_ = false;
  std::atomic<bool> stopped_{false};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::mutex connections_mu_;
  std::vector<std::weak_ptr<WsConnection>> connections_;  // for stop()
  size_t prune_at_ = 64;
};

thread_local const EngineEndpoint::Impl* EngineEndpoint::Impl::tls_endpoint = nullptr;

EngineEndpoint::EngineEndpoint(EndpointOptions options, EngineOptions engine,
                               EngineServer::HandlerFactory new_handler)
    : impl_(std::make_shared<Impl>(std::move(options), engine, std::move(new_handler))) {}

EngineEndpoint::~EngineEndpoint() {
  stop();
}

void EngineEndpoint::mount(net::Router& router) {
  impl_->mount(router);
}

Status EngineEndpoint::start() {
  return impl_->start();
}

void EngineEndpoint::stop() {
  impl_->stop();
}

void EngineEndpoint::drain(std::chrono::milliseconds within) {
  EngineServer& engine = impl_->engine();
  engine.drain_all("server shutting down");
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (engine.session_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

EngineServer& EngineEndpoint::engine() {
  return impl_->engine();
}

EngineEndpoint::ReadCounts EngineEndpoint::read_counts() const {
  return impl_->read_counts();
}

}  // namespace insightd::socketio
