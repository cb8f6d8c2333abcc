#include "api/admin_live.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

#include "api/admin_api.h"
#include "auth/auth_routes.h"

namespace insightd::api {

namespace {
constexpr std::string_view kNamespace = "/admin";
}  // namespace

AdminLive::AdminLive(store::Store& store, auth::AuthService& auth, ingest::LiveHub& hub,
                     const Clock& clock, AdminLiveOptions options, cluster::Cluster* cluster)
    : store_(store),
      auth_(auth),
      hub_(hub),
      clock_(clock),
      options_(std::move(options)),
      cluster_(cluster),
      flusher_(options_.flush_every, [this] { flush_events(); }),
      metrics_task_(options_.metrics_every, [this] { refresh_metrics(); }) {
  if (cluster_ != nullptr) {
    cluster_->on_live([this](boost::json::array events) { on_remote(std::move(events)); });
  }
}

AdminLive::~AdminLive() {
  stop();
}

void AdminLive::attach(socketio::SocketIoServer& io) {
  io.on_connection(
      std::string(kNamespace),
      [this](const socketio::Socket& socket) {
        std::lock_guard lock(mu_);
        sockets_.push_back(socket);
        if (cluster_ != nullptr) cluster_->set_watching(true);
        // The client sees the pipeline at once: the last metrics when fresh,
        // otherwise with the next refresh (within a second).
        if (!last_metrics_.empty()) {
          socket.emit("metrics", socketio::Payload(boost::json::array{last_metrics_object_}));
        } else {
          send_metrics_to_all_ = true;
        }
        socket.on_disconnect([this, id = socket.id()](std::string_view) {
          std::lock_guard lock(mu_);
          std::erase_if(sockets_, [&id](const socketio::Socket& s) { return s.id() == id; });
          if (sockets_.empty()) {
            pending_.clear();
            last_metrics_.clear();
            if (cluster_ != nullptr) cluster_->set_watching(false);
          }
        });
      },
      [this](const boost::json::object& auth) -> std::optional<std::string> {
        const auto* ticket = auth.if_contains("ticket");
        if (ticket != nullptr && ticket->is_string() &&
            auth_.stream_ticket_valid(std::string_view(ticket->as_string()))) {
          return std::nullopt;
        }
        return std::string("a valid ticket is required (POST /api/admin/live/ticket)");
      });
}

void AdminLive::add_routes(net::Router& router) {
  auth::add_admin_route(
      router, auth_, net::http::verb::post, "/api/admin/live/ticket",
      [this](const net::Request&, const net::PathParams&, const auth::Principal&) {
        net::Response res = net::json_response(
            net::http::status::ok,
            boost::json::object{
                {"ticket", auth_.issue_stream_ticket(options_.ticket_ttl)},
                {"expiresAt", format_timestamp(clock_.now() + options_.ticket_ttl)}});
        res.set(net::http::field::cache_control, "no-store");
        return res;
      });
}

void AdminLive::start() {
  {
    std::lock_guard lock(mu_);
    if (subscription_ != 0) return;
  }
  const uint64_t id =
      hub_.subscribe([this](std::span<const StoredEvent> events) { on_committed(events); },
                     [this] { return watched(); });
  {
    std::lock_guard lock(mu_);
    subscription_ = id;
  }
  flusher_.start();
  metrics_task_.start();
}

void AdminLive::stop() {
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    id = subscription_;
    subscription_ = 0;
  }
  if (id != 0) hub_.unsubscribe(id);
  flusher_.stop();
  metrics_task_.stop();
}

size_t AdminLive::subscriber_count() const {
  std::lock_guard lock(mu_);
  return sockets_.size();
}

std::vector<socketio::Socket> AdminLive::sockets() const {
  std::lock_guard lock(mu_);
  return sockets_;
}

bool AdminLive::watched() const {
  {
    std::lock_guard lock(mu_);
    if (!sockets_.empty()) return true;
  }
  return cluster_ != nullptr && cluster_->others_watching();
}

void AdminLive::on_committed(std::span<const StoredEvent> events) {
  // Runs on the writer's answering thread: only the newest few are turned into
  // JSON, and nothing at all while no dashboard listens, here or elsewhere.
  bool here = false;
  {
    std::lock_guard lock(mu_);
    here = !sockets_.empty();
  }
  const bool elsewhere = cluster_ != nullptr && cluster_->others_watching();
  if (!here && !elsewhere) return;
  // The newest of the commit: 100 for this node's next flush; for the other
  // nodes, as many as a message to them carries (a commit under load holds
  // more than a flush shows, and their streams relay each message at once).
  const size_t keep = std::min(
      events.size(), elsewhere ? cluster_->max_live_events() : options_.max_events_per_flush);
  std::vector<boost::json::object> fresh;
  fresh.reserve(keep);
  for (const StoredEvent& e : events.subspan(events.size() - keep)) {
    fresh.push_back(event_json(e));
  }
  if (elsewhere) {
    if (!here) {
      cluster_->publish_live(std::move(fresh));
      return;
    }
    cluster_->publish_live(fresh);
    if (fresh.size() > options_.max_events_per_flush) {
      fresh.erase(fresh.begin(),
                  fresh.end() - static_cast<std::ptrdiff_t>(options_.max_events_per_flush));
    }
  }
  std::lock_guard lock(mu_);
  for (auto& e : fresh) pending_.push_back(std::move(e));
  while (pending_.size() > options_.max_events_per_flush) pending_.pop_front();
}

void AdminLive::on_remote(boost::json::array events) {
  // Another node's events, already coalesced there: out at once.
  std::vector<socketio::Socket> targets;
  {
    std::lock_guard lock(mu_);
    if (subscription_ == 0 || sockets_.empty()) return;
    targets = sockets_;
  }
  const socketio::Payload payload(boost::json::array{std::move(events)});
  for (const auto& s : targets) s.emit("events", payload);
}

void AdminLive::flush_events() {
  std::deque<boost::json::object> batch;
  std::vector<socketio::Socket> targets;
  {
    std::lock_guard lock(mu_);
    if (pending_.empty() || sockets_.empty()) return;
    batch.swap(pending_);
    targets = sockets_;
  }
  boost::json::array events;
  events.reserve(batch.size());
  for (auto& e : batch) events.push_back(std::move(e));
  const socketio::Payload payload(boost::json::array{std::move(events)});
  for (const auto& s : targets) s.emit("events", payload);
}

void AdminLive::refresh_metrics() {
  bool to_all = false;
  {
    std::lock_guard lock(mu_);
    if (sockets_.empty()) return;
    to_all = send_metrics_to_all_;
  }
  auto metrics =
      shared_pipeline_metrics(store_, options_.breaker_name, clock_.now(), options_.cache);
  if (!metrics) {
    spdlog::warn("[Dashboard] Live metrics: {}", metrics.error().message);
    return;
  }
  boost::json::object compared = *metrics;
  compared.erase("generatedAt");
  std::string text = boost::json::serialize(compared);
  std::vector<socketio::Socket> targets;
  {
    std::lock_guard lock(mu_);
    if (!to_all && text == last_metrics_) return;
    last_metrics_ = std::move(text);
    last_metrics_object_ = *metrics;
    send_metrics_to_all_ = false;
    targets = sockets_;
  }
  const socketio::Payload payload(boost::json::array{*metrics});
  for (const auto& s : targets) s.emit("metrics", payload);
}

}  // namespace insightd::api
