// A light ingestion load generator in C++: N WebSocket connections speaking
// Engine.IO v4 / Socket.IO v5 by hand, each keeping a window of `user:event`s
// in flight (a new one goes out as each ack comes back). Reports acked
// events/s and ack latency p50/p99/p99.9/max in loadgen.mjs's format.
//
// Why a second client: on a 2-core machine the client's own CPU is taken from
// the server and the database. Node's clients spend 25-40 µs per event; this
// one, on one thread, speaks WebSocket by hand and spends a few. It measures
// what insightd and PostgreSQL do when the client is nearly free.
//
//   loadgen_ws --port 3000 [--host 127.0.0.1] [--path /api/socket]
//              [--connections 8] [--window 64] [--duration 10] [--warmup 2]
#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/coalescing_stream.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "3000";
  std::string path = "/api/socket";
  int connections = 8;
  int window = 64;
  double duration = 10;
  double warmup = 2;
};

struct Stats {
  bool measuring = false;
  bool done = false;
  uint64_t acked = 0;
  uint64_t errors = 0;
  std::vector<double> latencies_ms;
};

std::string now_iso() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  return buf;
}

// The WebSocket is spoken by hand: one upgrade request, then frames read from
// and written to the socket in bulk (every frame of a read parsed in one pass;
// every frame queued while a write is in flight sent with the next write), so
// the client's CPU goes to the events, not to per-frame stream machinery.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& io, const Options& opt, int index, Stats& stats)
      : stream_(io),
        opt_(opt),
        index_(index),
        stats_(stats),
        timestamp_(now_iso()),
        mask_state_(0x9E3779B97F4A7C15ULL ^ static_cast<uint64_t>(index + 1)) {}

  void start(const tcp::resolver::results_type& endpoints) {
    stream_.next_layer().async_connect(
        endpoints, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return self->fail("connect", ec);
          self->stream_.next_layer().socket().set_option(tcp::no_delay(true));
          self->upgrade();
        });
  }

 private:
  void upgrade() {
    std::string request = "GET " + opt_.path +
                          "/?EIO=4&transport=websocket HTTP/1.1\r\n"
                          "Host: " +
                          opt_.host + ":" + opt_.port +
                          "\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n";
    stream_.append(std::move(request));
    read();
  }

  void read() {
    stream_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) {
                                if (!self->stats_.done) self->fail("read", ec);
                                return;
                              }
                              self->in_.append(self->chunk_.data(), n);
                              if (!self->upgraded_ && !self->parse_upgrade()) return;
                              self->parse_frames();
                              if (!self->stats_.done && !self->closed_) self->read();
                            });
  }

  // The 101 answer; frames may follow it in the same read.
  bool parse_upgrade() {
    const size_t end = in_.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (in_.size() > size_t{16} * 1024) fail("upgrade", asio::error::message_size);
      return in_.size() <= size_t{16} * 1024;
    }
    if (!in_.starts_with("HTTP/1.1 101")) {
      std::fprintf(stderr, "connection %d: upgrade refused: %.*s\n", index_,
                   static_cast<int>(in_.find("\r\n")), in_.data());
      ++stats_.errors;
      return false;
    }
    in_.erase(0, end + 4);
    upgraded_ = true;
    return true;
  }

  // Every whole frame in in_ (server frames: unmasked, unfragmented).
  void parse_frames() {
    size_t pos = 0;
    while (in_.size() - pos >= 2) {
      const auto b0 = static_cast<unsigned char>(in_[pos]);
      const auto b1 = static_cast<unsigned char>(in_[pos + 1]);
      size_t header = 2;
      uint64_t len = b1 & 0x7F;
      if (len == 126) {
        header = 4;
        if (in_.size() - pos < header) break;
        len = (uint64_t{static_cast<unsigned char>(in_[pos + 2])} << 8) |
              static_cast<unsigned char>(in_[pos + 3]);
      } else if (len == 127) {
        header = 10;
        if (in_.size() - pos < header) break;
        len = 0;
        for (size_t i = 0; i < 8; ++i)
          len = (len << 8) | static_cast<unsigned char>(in_[pos + 2 + i]);
      }
      if ((b1 & 0x80) != 0 || (b0 & 0x80) == 0) {
        fail("frame", asio::error::invalid_argument);  // masked or fragmented: not ours
        closed_ = true;
        return;
      }
      if (in_.size() - pos - header < len) break;
      const std::string_view payload(in_.data() + pos + header, len);
      pos += header + len;
      const unsigned opcode = b0 & 0x0F;
      if (opcode == 0x8) {  // close
        closed_ = true;
        if (!stats_.done) fail("read", asio::error::eof);
        return;
      }
      if (opcode == 0x1) on_frame(payload);
    }
    in_.erase(0, pos);
  }

  void on_frame(std::string_view f) {
    if (f.empty()) return;
    switch (f[0]) {
      case '0':  // Engine.IO open: join the default namespace
        send("40");
        return;
      case '2':  // ping
        send("3");
        return;
      case '4':
        break;
      default:
        return;
    }
    if (f.starts_with("40")) {  // namespace joined: fill the window
      for (int i = 0; i < opt_.window; ++i) send_event();
      return;
    }
    if (f.starts_with("44")) {  // CONNECT_ERROR
      std::fprintf(stderr, "connection %d refused: %.*s\n", index_, static_cast<int>(f.size()),
                   f.data());
      ++stats_.errors;
      return;
    }
    if (!f.starts_with("43")) return;  // event:ack emits; the ack callback is what counts
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(f.data() + 2, f.data() + f.size(), id);
    if (ec != std::errc()) return;
    auto it = sent_.find(id);
    if (it == sent_.end()) return;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - it->second).count();
    sent_.erase(it);
    if (std::string_view(end, f.data() + f.size() - end).find("\"ok\"") == std::string_view::npos) {
      ++stats_.errors;
    } else if (stats_.measuring) {
      ++stats_.acked;
      stats_.latencies_ms.push_back(ms);
    }
    if (!stats_.done) send_event();
  }

  void send_event() {
    const uint64_t id = next_id_++;
    char buf[512];
    const int n = std::snprintf(
        buf, sizeof buf,
        "42%llu[\"user:event\",{\"eventId\":\"lgc-%d-%llu-%lld\",\"eventType\":\"page_view\","
        "\"userId\":\"user_%d\",\"sessionId\":\"session_%d\",\"timestamp\":\"%s\","
        "\"metadata\":{\"page\":\"/home\",\"seq\":%llu}}]",
        static_cast<unsigned long long>(id), index_, static_cast<unsigned long long>(id),
        static_cast<long long>(start_tag_), index_, index_, timestamp_.c_str(),
        static_cast<unsigned long long>(id));
    sent_.emplace(id, Clock::now());
    send(std::string_view(buf, static_cast<size_t>(n)));
  }

  // One masked text frame (RFC 6455 §5.3: a client masks every frame).
  void send(std::string_view payload) {
    std::string frame;
    frame.reserve(payload.size() + 14);
    frame.push_back(static_cast<char>(0x81));
    const size_t n = payload.size();
    if (n < 126) {
      frame.push_back(static_cast<char>(0x80 | n));
    } else {  // events are far below 64 KiB
      frame.push_back(static_cast<char>(0x80 | 126));
      frame.push_back(static_cast<char>((n >> 8) & 0xFF));
      frame.push_back(static_cast<char>(n & 0xFF));
    }
    // xorshift64: a new mask per frame, as the RFC asks, without a syscall.
    mask_state_ ^= mask_state_ << 13;
    mask_state_ ^= mask_state_ >> 7;
    mask_state_ ^= mask_state_ << 17;
    char mask[4];
    for (int i = 0; i < 4; ++i) mask[i] = static_cast<char>((mask_state_ >> (8 * i)) & 0xFF);
    frame.append(mask, 4);
    for (size_t i = 0; i < n; ++i) frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    stream_.append(std::move(frame));
  }

  void fail(const char* what, beast::error_code ec) {
    std::fprintf(stderr, "connection %d: %s: %s\n", index_, what, ec.message().c_str());
    ++stats_.errors;
  }

  // Writes queued while one is in flight leave together with the next.
  insightd::net::CoalescingStream<beast::tcp_stream> stream_;
  const Options& opt_;
  const int index_;
  Stats& stats_;
  const std::string timestamp_;
  const long long start_tag_ = static_cast<long long>(std::time(nullptr));
  uint64_t mask_state_;
  std::array<char, size_t{64} * 1024> chunk_{};
  std::string in_;
  bool upgraded_ = false;
  bool closed_ = false;
  std::unordered_map<uint64_t, Clock::time_point> sent_;
  uint64_t next_id_ = 0;
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

bool parse(int argc, char** argv, Options& opt) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view key = argv[i];
    const char* value = argv[i + 1];
    if (key == "--host")
      opt.host = value;
    else if (key == "--port")
      opt.port = value;
    else if (key == "--path")
      opt.path = value;
    else if (key == "--connections")
      opt.connections = static_cast<int>(std::strtol(value, nullptr, 10));
    else if (key == "--window")
      opt.window = static_cast<int>(std::strtol(value, nullptr, 10));
    else if (key == "--duration")
      opt.duration = std::strtod(value, nullptr);
    else if (key == "--warmup")
      opt.warmup = std::strtod(value, nullptr);
    else
      return false;
  }
  return argc % 2 == 1 && opt.connections > 0 && opt.window > 0 && opt.duration > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse(argc, argv, opt)) {
    std::fprintf(stderr,
                 "usage: loadgen_ws --port N [--host H] [--path /api/socket] [--connections 8] "
                 "[--window 64] [--duration 10] [--warmup 2]\n");
    return 2;
  }
  asio::io_context io(1);
  Stats stats;
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(opt.host, opt.port);
  for (int i = 0; i < opt.connections; ++i) {
    std::make_shared<Connection>(io, opt, i, stats)->start(endpoints);
  }
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  asio::steady_timer warmup(io,
                            duration_cast<milliseconds>(std::chrono::duration<double>(opt.warmup)));
  asio::steady_timer end(
      io, duration_cast<milliseconds>(std::chrono::duration<double>(opt.warmup + opt.duration)));
  warmup.async_wait([&](beast::error_code) { stats.measuring = true; });
  end.async_wait([&](beast::error_code) {
    stats.measuring = false;
    stats.done = true;
    io.stop();
  });
  io.run();

  std::vector<double>& l = stats.latencies_ms;
  const double rate = static_cast<double>(stats.acked) / opt.duration;
  const double p50 = percentile(l, 0.50), p99 = percentile(l, 0.99), p999 = percentile(l, 0.999);
  const double max = l.empty() ? 0 : *std::max_element(l.begin(), l.end());
  std::printf(
      "cxx/websocket %d conns × window %d: %.0f acked events/s (%llu in %g s, %llu errors), "
      "latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
      opt.connections, opt.window, rate, static_cast<unsigned long long>(stats.acked), opt.duration,
      static_cast<unsigned long long>(stats.errors), p50, p99, p999, max);
  return stats.errors == 0 ? 0 : 1;
}
