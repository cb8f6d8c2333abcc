// A stream layer that turns many small reads and writes into few system calls.
//
// Beast writes each WebSocket frame with its own write to the next layer, which on
// a TCP socket is one sendmsg per frame even when corked. Under load a connection
// sends bursts of small frames (an ack and an ack callback per event), and those
// sends were the largest single cost of the server; reads, 1,536 bytes at a time,
// came next. CoalescingStream sits between a Beast websocket::stream and the socket:
//
//  - async_read_some reads up to 16 KiB with one system call (into a scratch
//    area of the thread) and serves the caller's small reads from that, keeping
//    only the bytes the caller has not taken yet; when the socket has nothing, it
//    waits for the socket to become readable holding no buffer at all, so an idle
//    connection keeps no read memory;
//  - async_write_some copies the bytes into a pending buffer and completes at
//    once; whatever accumulates while one socket write is in flight goes out with
//    the next one, so a burst costs one or two system calls however many frames
//    it holds;
//  - append() adds bytes directly (frames the caller encoded itself), so a
//    known burst leaves in one write;
//  - on_drained() runs a callback once everything appended so far is in the
//    kernel (or the socket failed): the owner's backpressure.
//
// Writes never interleave: every byte, the caller's and Beast's own (the 101
// answer, pongs, the close frame), passes through the one pending buffer in the
// order it was written. The owner appends one burst and waits for on_drained
// before the next; Beast's own writes (pongs above all) are not paced by anyone,
// so set_limits() bounds the bytes waiting and how long one socket write may
// take: past either the stream fails with an error and closes the socket, which
// ends the connection (a client that sends pings and never reads). After a socket
// error every later write completes with that error.
//
// Not thread-safe: use it on one strand, like the stream it wraps.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace insightd::net {

template <class NextLayer>
class CoalescingStream {
 public:
  using next_layer_type = NextLayer;
  using executor_type = typename NextLayer::executor_type;

  template <class... Args>
  explicit CoalescingStream(Args&&... args)
      : state_(std::make_shared<State>(std::forward<Args>(args)...)) {}

  executor_type get_executor() noexcept { return state_->next.get_executor(); }

  // Bytes that may wait to be sent (0: no bound), and how long one socket write may
  // take (zero: no deadline). Over either, the stream fails and closes the socket.
  void set_limits(std::size_t max_buffered, std::chrono::milliseconds write_timeout) {
    state_->max_buffered = max_buffered;
    state_->write_timeout = write_timeout;
  }
  NextLayer& next_layer() noexcept { return state_->next; }
  const NextLayer& next_layer() const noexcept { return state_->next; }

  // Reads take up to kReadChunk bytes with one system call into the thread's
  // scratch area and serve the caller's small reads (Beast reads a WebSocket 1,536
  // bytes at a time) from them: what the caller's buffers take goes there at once,
  // and only the rest is kept, exactly its size, for the next reads. When the
  // socket has nothing to read, the stream waits for it to become readable and
  // holds no buffer meanwhile: idle connections keep no read memory.
  template <class MutableBuffers, class ReadToken>
  auto async_read_some(const MutableBuffers& buffers, ReadToken&& token) {
    return boost::asio::async_initiate<ReadToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& bufs) {
          State& st = *state_;
          boost::system::error_code ec;
          std::size_t n = 0;
          if (st.read_pos < st.read_end || boost::asio::buffer_size(bufs) == 0) {
            n = take_read(st, bufs);
          } else if (!read_now(st, bufs, n, ec)) {
            // Nothing there yet: wait without a buffer (the handler runs on its
            // executor, as a read's would).
            auto ex = boost::asio::get_associated_executor(handler, get_executor());
            wait_readable(state_,
                          boost::asio::bind_executor(ex, ReadOp<MutableBuffers, decltype(handler)>{
                                                             state_, bufs, std::move(handler)}));
            return;
          }
          // Completion handlers never run inside the initiating call.
          boost::asio::post(get_executor(),
                            boost::beast::bind_front_handler(std::move(handler), ec, n));
        },
        token, buffers);
  }

  template <class ConstBuffers, class WriteToken>
  auto async_write_some(const ConstBuffers& buffers, WriteToken&& token) {
    return boost::asio::async_initiate<WriteToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& bufs) {
          boost::system::error_code ec = state_->failed;
          std::size_t n = 0;
          if (!ec) {
            const std::size_t size = boost::asio::buffer_size(bufs);
            if (!admit(state_, size)) {
              ec = state_->failed;
            } else {
              for (auto it = boost::asio::buffer_sequence_begin(bufs);
                   it != boost::asio::buffer_sequence_end(bufs); ++it) {
                boost::asio::const_buffer b(*it);
                state_->pending.append(static_cast<const char*>(b.data()), b.size());
                n += b.size();
              }
              kick();
            }
          }
          // Completion handlers never run inside the initiating call.
          boost::asio::post(get_executor(),
                            boost::beast::bind_front_handler(std::move(handler), ec, n));
        },
        token, buffers);
  }

  // Adds bytes to send; they leave with the next socket write. Ignored once the
  // socket failed.
  void append(std::string_view bytes) {
    if (!admit(state_, bytes.size())) return;
    state_->pending.append(bytes);
    kick();
  }
  void append(std::string&& bytes) {
    if (!admit(state_, bytes.size())) return;
    if (state_->pending.empty()) {
      state_->pending = std::move(bytes);
    } else {
      state_->pending.append(bytes);
    }
    kick();
  }

  // Runs fn(error) once every byte appended so far has been handed to the socket,
  // or the socket failed. Posted, never run inside this call.
  template <class Fn>
  void on_drained(Fn fn) {
    auto waiter = std::make_unique<Waiter<Fn>>(std::move(fn));
    if (idle()) {
      boost::asio::post(get_executor(), [w = std::move(waiter), ec = state_->failed]() mutable {
        w->complete(ec);
      });
      return;
    }
    state_->waiters.push_back(std::move(waiter));
  }

  // Bytes appended and not yet handed to the socket (for tests and metrics).
  std::size_t buffered() const { return state_->pending.size() + state_->in_flight.size(); }

  // Beast's closing handshake ends with a teardown of the next layer; the close
  // frame (and anything before it) must have left first.
  template <class TeardownHandler>
  friend void async_teardown(boost::beast::role_type role, CoalescingStream& stream,
                             TeardownHandler&& handler) {
    stream.on_drained(
        [&next = stream.state_->next, role,
         h = std::forward<TeardownHandler>(handler)](boost::system::error_code) mutable {
          using boost::beast::websocket::async_teardown;
          async_teardown(role, next, std::move(h));
        });
  }

  friend void teardown(boost::beast::role_type role, CoalescingStream& stream,
                       boost::system::error_code& ec) {
    using boost::beast::websocket::teardown;
    // The blocking teardown reads until the peer's end: reads here are blocking.
    boost::system::error_code ignored;
    socket_of(stream.state_->next).non_blocking(false, ignored);
    teardown(role, stream.state_->next, ec);
  }

 private:
  struct WaiterBase {
    virtual ~WaiterBase() = default;
    virtual void complete(boost::system::error_code ec) = 0;
  };
  template <class Fn>
  struct Waiter final : WaiterBase {
    explicit Waiter(Fn f) : fn(std::move(f)) {}
    void complete(boost::system::error_code ec) override { fn(ec); }
    Fn fn;
  };

  // Outlives the stream while a socket write is in flight.
  struct State {
    template <class... Args>
    explicit State(Args&&... args) : next(std::forward<Args>(args)...) {}
    NextLayer next;
    std::string pending;
    std::string in_flight;
    std::unique_ptr<char[]> read_buf;  // bytes read and not yet taken (exactly those)
    std::size_t read_pos = 0;
    std::size_t read_end = 0;
    bool writing = false;
    boost::system::error_code failed;
    std::vector<std::unique_ptr<WaiterBase>> waiters;
    std::size_t max_buffered = 0;
    std::chrono::milliseconds write_timeout{0};
    std::unique_ptr<boost::asio::steady_timer> deadline;  // only while a timed write is out
    std::uint64_t write_generation = 0;                   // which write the deadline is for
  };

  // Whether `size` more bytes may wait; if not, fails the stream (see set_limits).
  static bool admit(const std::shared_ptr<State>& state, std::size_t size) {
    if (state->failed) return false;
    const std::size_t waiting = state->pending.size() + state->in_flight.size();
    if (state->max_buffered == 0 || waiting + size <= state->max_buffered) return true;
    fail(state, boost::asio::error::no_buffer_space);
    return false;
  }

  // Gives up on the connection: drops what waits and closes the socket, so the
  // pending write and read complete with an error and the owner tears down.
  static void fail(const std::shared_ptr<State>& state, boost::system::error_code ec) {
    if (state->failed) return;
    state->failed = ec;
    state->pending.clear();
    boost::system::error_code ignored;
    socket_of(state->next).close(ignored);
    if (!state->writing) complete_waiters(state);
  }

  static void complete_waiters(const std::shared_ptr<State>& state) {
    auto waiters = std::move(state->waiters);
    state->waiters.clear();
    for (auto& w : waiters) w->complete(state->failed);
  }

  static constexpr std::size_t kReadChunk = std::size_t{16} * 1024;

  // The socket under every layer (a beast::tcp_stream's, or the socket itself).
  static auto& socket_of(NextLayer& next) {
    auto& lowest = boost::beast::get_lowest_layer(next);
    if constexpr (requires { lowest.socket(); }) {
      return lowest.socket();
    } else {
      return lowest;
    }
  }

  // Where reads land first: one per thread, used only within read_now, so no
  // connection owns read memory while it waits.
  static char* read_scratch() {
    thread_local std::unique_ptr<char[]> scratch;
    if (!scratch) scratch = std::make_unique<char[]>(kReadChunk);
    return scratch.get();
  }

  // Reads what the socket has without waiting: into `bufs` first, the rest kept in
  // read_buf. False when there is nothing yet (nothing was read then); otherwise
  // `n` bytes went to `bufs`, or `ec` says why none will.
  template <class MutableBuffers>
  static bool read_now(State& st, const MutableBuffers& bufs, std::size_t& n,
                       boost::system::error_code& ec) {
    n = 0;
    auto& socket = socket_of(st.next);
    if (!socket.non_blocking()) {
      socket.non_blocking(true, ec);
      if (ec) return true;
    }
    char* const scratch = read_scratch();
    const std::size_t got = socket.read_some(boost::asio::buffer(scratch, kReadChunk), ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
      ec = {};
      return false;
    }
    if (ec) return true;
    n = boost::asio::buffer_copy(bufs, boost::asio::buffer(scratch, got));
    if (n < got) {
      st.read_buf = std::make_unique<char[]>(got - n);
      std::memcpy(st.read_buf.get(), scratch + n, got - n);
      st.read_pos = 0;
      st.read_end = got - n;
    }
    return true;
  }

  template <class Handler>
  static void wait_readable(const std::shared_ptr<State>& state, Handler&& handler) {
    socket_of(state->next)
        .async_wait(boost::asio::socket_base::wait_read, std::forward<Handler>(handler));
  }

  // A read that waits for the socket: reads once it is readable (waiting again if
  // a wake-up finds nothing after all), then completes the caller's handler.
  template <class MutableBuffers, class Handler>
  struct ReadOp {
    std::shared_ptr<State> state;
    MutableBuffers bufs;
    Handler handler;

    void operator()(boost::system::error_code ec) {
      std::size_t n = 0;
      if (!ec && !read_now(*state, bufs, n, ec)) {
        auto keep = state;
        auto ex = boost::asio::get_associated_executor(handler, keep->next.get_executor());
        wait_readable(keep, boost::asio::bind_executor(ex, std::move(*this)));
        return;
      }
      std::move(handler)(ec, n);
    }
  };

  template <class MutableBuffers>
  static std::size_t take_read(State& st, const MutableBuffers& bufs) {
    if (st.read_pos == st.read_end) return 0;
    const std::size_t n = boost::asio::buffer_copy(
        bufs, boost::asio::buffer(st.read_buf.get() + st.read_pos, st.read_end - st.read_pos));
    st.read_pos += n;
    if (st.read_pos == st.read_end) st.read_buf.reset();
    return n;
  }

  bool idle() const { return state_->failed || (!state_->writing && state_->pending.empty()); }

  void kick() { start_write(state_); }

  static void start_write(const std::shared_ptr<State>& state) {
    if (state->writing || state->failed || state->pending.empty()) return;
    state->writing = true;
    std::swap(state->pending, state->in_flight);
    const std::uint64_t generation = ++state->write_generation;
    if (state->write_timeout.count() > 0) {
      if (!state->deadline) {
        state->deadline = std::make_unique<boost::asio::steady_timer>(state->next.get_executor());
      }
      state->deadline->expires_after(state->write_timeout);
      state->deadline->async_wait([state, generation](boost::system::error_code ec) {
        // A peer that reads nothing for this long is gone or hostile.
        if (!ec && state->writing && state->write_generation == generation) {
          fail(state, boost::asio::error::timed_out);
        }
      });
    }
    boost::asio::async_write(state->next, boost::asio::buffer(state->in_flight),
                             [state](boost::system::error_code ec, std::size_t) {
                               state->writing = false;
                               state->in_flight.clear();
                               if (state->deadline) state->deadline->cancel();
                               if (ec && !state->failed) {
                                 state->failed = ec;
                                 state->pending.clear();
                               }
                               start_write(state);
                               if (!state->writing) {
                                 // Idle: an idle connection keeps no write memory
                                 // (what a burst grew, the deadline's timer).
                                 std::string().swap(state->in_flight);
                                 if (state->pending.empty()) std::string().swap(state->pending);
                                 state->deadline.reset();
                                 if (state->pending.empty() || state->failed) {
                                   complete_waiters(state);
                                 }
                               }
                             });
  }

  std::shared_ptr<State> state_;
};

}  // namespace insightd::net
