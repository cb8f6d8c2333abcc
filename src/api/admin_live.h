// The dashboard's live stream: Socket.IO namespace "/admin" on the ingestion
// server (same path), for signed-in admins only.
//
//   POST /api/admin/live/ticket  → {"ticket", "expiresAt"}: valid for 60 s
//   io("/admin", {path: "/api/socket", auth: {ticket}})
//     "events"  [event, ...]  committed events, oldest first, within ~100 ms;
//                             at most the newest 100 per message under load
//     "metrics" {...}         GET /api/admin/metrics' object, at connect and
//                             whenever it changes (checked every second)
//
// The ticket (auth/auth_service.h) keeps the session cookie out of the
// Socket.IO handshake and works on any node sharing AUTH_SECRET.
//
// With Redis (cluster/cluster.h) the stream is the whole deployment's: this
// node publishes its committed events while another node has a dashboard
// open, and relays the others' to its own dashboards as they arrive; the
// figures come from the nodes' shared cache (computed once a second by one).
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "auth/auth_service.h"
#include "cluster/cluster.h"
#include "core/time.h"
#include "ingest/live_hub.h"
#include "net/router.h"
#include "runtime/periodic_task.h"
#include "socketio/socketio_server.h"
#include "store/store.h"

namespace insightd::api {

struct AdminLiveOptions {
  std::string breaker_name = "analyzer";
  Millis flush_every{100};      // how often buffered events go out
  Millis metrics_every{1'000};  // how often the metrics are recomputed
  Millis ticket_ttl{60'000};
  size_t max_events_per_flush = 100;
  // The nodes' shared cache of the figures (REDIS_URL), or null.
  SharedCache* cache = nullptr;
};

class AdminLive {
 public:
  // Everything passed must outlive this object.
  // `cluster` (optional): the other nodes' events, and this node's for them.
  AdminLive(store::Store& store, auth::AuthService& auth, ingest::LiveHub& hub, const Clock& clock,
            AdminLiveOptions options = {}, cluster::Cluster* cluster = nullptr);
  ~AdminLive();
  AdminLive(const AdminLive&) = delete;
  AdminLive& operator=(const AdminLive&) = delete;

  // Declares the "/admin" namespace (before io.start()).
  void attach(socketio::SocketIoServer& io);
  // Adds POST /api/admin/live/ticket.
  void add_routes(net::Router& router);

  // Subscribes to the hub and starts the two timers; stop() undoes it. Call
  // stop() before the Socket.IO server stops.
  void start();
  void stop();

  size_t subscriber_count() const;

 private:
  void on_committed(std::span<const StoredEvent> events);
  // Whether a dashboard watches, here or on another node.
  bool watched() const;
  void on_remote(boost::json::array events);
  void flush_events();
  void refresh_metrics();
  std::vector<socketio::Socket> sockets() const;

  store::Store& store_;
  auth::AuthService& auth_;
  ingest::LiveHub& hub_;
  const Clock& clock_;
  const AdminLiveOptions options_;
  cluster::Cluster* const cluster_;

  mutable std::mutex mu_;
  std::vector<socketio::Socket> sockets_;
  std::deque<boost::json::object> pending_;  // newest last, at most max_events_per_flush
  std::string last_metrics_;                 // serialized, without generatedAt
  boost::json::object last_metrics_object_;
  bool send_metrics_to_all_ = false;  // a client joined: send even if unchanged

  uint64_t subscription_ = 0;
  runtime::PeriodicTask flusher_;
  runtime::PeriodicTask metrics_task_;
};

}  // namespace insightd::api
