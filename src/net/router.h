// Where an HTTP request goes: the Router maps (method, path) to a handler and
// says whether that handler may block. It owns no sockets and no threads, so it
// is tested by calling dispatch() with a request; HttpServer asks it (resolve())
// and runs the handler on the network thread or on its blocking pool.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "net/http.h"

namespace insightd::net {

// Where a handler runs.
enum class RouteKind {
  kInline,    // never blocks (no database, no disk): runs on the network thread that read it
  kBlocking,  // may block: runs on the server's blocking pool, the answer is posted back
  kDeferred,  // never blocks, answers later through a Responder (long-polling)
};

class UpgradeRequest;  // net/upgrade.h: a connection handed over for another protocol

// Values of the `{name}` segments of a matched pattern, percent-decoded.
class PathParams {
 public:
  PathParams() = default;
  explicit PathParams(std::vector<std::pair<std::string, std::string>> values)
      : values_(std::move(values)) {}

  // The value of `name`; "" when the route has no such parameter (a matched
  // parameter is never empty).
  std::string_view get(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

// Handlers are pure: request in, response out. One handler may run on several
// threads at once, so what it captures must be thread-safe. Exceptions are a bug:
// the server logs them and answers 500.
using Handler = std::function<Response(const Request&, const PathParams&)>;

// The way back for the answer of a deferred route. A cheap handle: copies share one
// answer. Thread-safe; the first send() wins, later ones do nothing, and so does a
// send() after the client went away or the server stopped. It must not be used
// after the HttpServer that made it is destroyed.
class Responder {
 public:
  // What carries the answer: the server's connection, or Router::dispatch's wait.
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void send(Response res) = 0;
    virtual void on_abandoned(std::function<void()> fn) = 0;
  };

  explicit Responder(std::shared_ptr<Sink> sink) : sink_(std::move(sink)) {}

  void send(Response res) const { sink_->send(std::move(res)); }

  // Runs `fn` once if the connection ends before an answer was sent: the client gave
  // up (a cancelled long-poll). Runs on a server thread, or at once on the calling
  // thread when the connection has already ended. Set at most once.
  void on_abandoned(std::function<void()> fn) const { sink_->on_abandoned(std::move(fn)); }

 private:
  std::shared_ptr<Sink> sink_;
};

// A deferred handler takes the request and keeps the Responder until it has an
// answer. It runs on a network thread and must return at once.
using DeferredHandler = std::function<void(Request req, const PathParams&, Responder)>;

// Takes over a connection whose request asked to switch protocols (WebSocket). Runs
// on a network thread and must return at once; what it does not move out of the
// UpgradeRequest is closed when it returns.
using UpgradeHandler = std::function<void(UpgradeRequest&)>;

// The route picked for one request. Refers to the Router's handler: it must not
// outlive the Router, nor a later add().
class RouteMatch {
 public:
  RouteKind kind() const { return kind_; }
  const PathParams& params() const { return params_; }
  // Which route matched: an id of Router::routes().
  size_t route_id() const { return route_id_; }
  // For kInline and kBlocking routes.
  Response run(const Request& req) const { return (*handler_)(req, params_); }
  // For kDeferred routes.
  void run_deferred(Request req, Responder responder) const {
    (*deferred_)(std::move(req), params_, std::move(responder));
  }

 private:
  friend class Router;
  RouteMatch(const Handler* handler, const DeferredHandler* deferred, RouteKind kind,
             PathParams params, size_t route_id)
      : handler_(handler),
        deferred_(deferred),
        kind_(kind),
        params_(std::move(params)),
        route_id_(route_id) {}

  const Handler* handler_;
  const DeferredHandler* deferred_;
  RouteKind kind_;
  PathParams params_;
  size_t route_id_;
};

// Routes are registered once, before serving; after that the Router is only read
// and may be shared by any number of threads.
class Router {
 public:
  // `pattern` is an absolute path whose segments are literals or `{name}`, a whole
  // non-empty segment: "/healthz", "/api/admin/batches/{id}". Literal segments
  // match the percent-decoded request path exactly ("/a" and "/a/" differ).
  // Registering the same method and path shape twice is a bug.
  void add(http::verb method, std::string_view pattern, RouteKind kind, Handler handler);

  // Claims every path under `prefix` for `method`: "/api/socket" takes
  // "/api/socket", "/api/socket/" and "/api/socket/...", but not "/api/sockets".
  // The handler reads what follows the prefix from the request target itself.
  void add_prefix(http::verb method, std::string_view prefix, RouteKind kind, Handler handler);

  // The same for a deferred handler (RouteKind::kDeferred).
  void add_prefix(http::verb method, std::string_view prefix, DeferredHandler handler);

  // Claims WebSocket upgrade requests (GET with "Upgrade: websocket") under `prefix`,
  // as add_prefix matches paths. Upgrade requests elsewhere are routed as usual.
  void add_upgrade_prefix(std::string_view prefix, UpgradeHandler handler);

  // The upgrade handler for `req` when it is a WebSocket upgrade request under an
  // upgrade prefix; null otherwise.
  const UpgradeHandler* resolve_upgrade(const Request& req) const;

  // The route for `req`, or the error response to send instead: 400 for a target
  // that is not a valid origin-form or absolute-form URL, 404 when no route has
  // the path, 405 with `Allow` when routes have the path but not the method.
  // Precedence: exact paths, then patterns (a literal segment beats a parameter,
  // leftmost first), then prefixes (longest first). HEAD uses the GET route when
  // there is no HEAD route; the server drops the body.
  std::variant<RouteMatch, Response> resolve(const Request& req) const;

  // resolve() and, on a match, run the handler on the calling thread whatever
  // its kind; for a deferred route it waits for the answer. For tests and for
  // callers already off the network threads.
  Response dispatch(const Request& req) const;

  // A registered route as metrics name it: ids count registrations from 0;
  // `pattern` is the registered path ("/api/admin/batches/{id}"), a prefix
  // route's ends in "/*" ("/api/socket/*"). Never a client's raw path, so the
  // set of names is bounded.
  struct RouteInfo {
    size_t id = 0;
    http::verb method = http::verb::unknown;
    std::string pattern;
  };
  std::vector<RouteInfo> routes() const;
  // The route id of a request no route took (404, 405, an unreadable request).
  static constexpr size_t kNoRoute = static_cast<size_t>(-1);

 private:
  struct Segment {
    std::string text;  // the literal, or the parameter's name
    bool is_param;
  };
  struct Route {
    http::verb method;
    std::vector<Segment> segments;
    bool is_prefix;
    RouteKind kind;
    Handler handler;
    DeferredHandler deferred;  // set for kDeferred instead of handler
    size_t id = 0;             // registration order, set by insert()
  };
  struct UpgradeRoute {
    std::vector<std::string> segments;
    UpgradeHandler handler;
  };

  void insert(Route route);

  std::vector<Route> routes_;           // in precedence order; resolve() takes the first match
  std::vector<UpgradeRoute> upgrades_;  // longest prefix first
};

}  // namespace insightd::net
