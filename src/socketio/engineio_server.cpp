#include "socketio/engineio_server.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse_query.hpp>
#include <optional>
#include <vector>

#include "socketio/session_id.h"

namespace insightd::socketio {
namespace {

// The error answers of the reference server: clients show code and message.
enum ErrorKind {
  kTransportUnknown = 0,
  kSessionIdUnknown = 1,
  kBadHandshakeMethod = 2,
  kBadRequest = 3,
  kForbidden = 4,
  kUnsupportedProtocolVersion = 5,
};

constexpr std::string_view message_of(ErrorKind kind) {
  switch (kind) {
    case kTransportUnknown:
      return "Transport unknown";
    case kSessionIdUnknown:
      return "Session ID unknown";
    case kBadHandshakeMethod:
      return "Bad handshake method";
    case kBadRequest:
      return "Bad request";
    case kForbidden:
      return "Forbidden";
    case kUnsupportedProtocolVersion:
      return "Unsupported protocol version";
  }
  return "Bad request";
}

HttpAnswer error_answer(ErrorKind kind, int status = 400) {
  boost::json::object body{{"code", static_cast<int>(kind)}, {"message", message_of(kind)}};
  return HttpAnswer{status, "application/json", boost::json::serialize(body)};
}

struct Query {
  std::optional<std::string> eio;
  std::optional<std::string> transport;
  std::optional<std::string> sid;
};

// The parameters the protocol reads; others (t, b64, the app's own) are ignored.
std::optional<Query> parse_query(std::string_view text) {
  // Boost.URL 1.81's parse_query measures the text again with strlen, reading
  // past a view that is not NUL-terminated (a request target is not): it gets a
  // terminated copy.
  const std::string terminated(text);
  auto params = boost::urls::parse_query(terminated);
  if (!params) return std::nullopt;
  Query q;
  for (auto param : *params) {
    if (!param.has_value) continue;
    if (param.key == "EIO") q.eio = param.value;
    if (param.key == "transport") q.transport = param.value;
    if (param.key == "sid") q.sid = param.value;
  }
  return q;
}

// Checks EIO and the transport; nullopt when they are fine.
std::optional<ErrorKind> check_query(const std::optional<Query>& q, std::string_view transport) {
  if (!q) return kBadRequest;
  if (q->eio != "4") return kUnsupportedProtocolVersion;
  if (q->transport != "polling" && q->transport != "websocket") return kTransportUnknown;
  if (q->transport != transport) return kBadRequest;
  return std::nullopt;
}

}  // namespace

EngineServer::EngineServer(EngineOptions options, ContextFactory new_context,
                           HandlerFactory new_handler)
    : options_(std::make_shared<const EngineOptions>(options)),
      new_context_(std::move(new_context)),
      new_handler_(std::move(new_handler)),
      registry_(std::make_shared<Registry>()) {}

EngineServer::~EngineServer() {
  close_all("server shutting down");
}

void EngineServer::handle_http(std::string_view method, std::string_view query,
                               std::string_view content_type, std::string body,
                               std::shared_ptr<HttpReply> reply, Admission admission) {
  auto q = parse_query(query);
  if (auto error = check_query(q, "polling")) return reply->send(error_answer(*error));
  if (!options_->allow_polling) return reply->send(error_answer(kTransportUnknown));
  if (!q->sid) {
    if (method != "GET") return reply->send(error_answer(kBadHandshakeMethod));
    auto session = create_session(new_context_(), std::move(admission));
    if (!session) return reply->send(error_answer(kBadRequest, 503));
    auto s = std::move(*session);
    s->context()->post([s, reply = std::move(reply)] { s->start_polling(reply); });
    return;
  }
  auto session = find(*q->sid);
  if (!session) return reply->send(error_answer(kSessionIdUnknown));
  if (method == "GET") {
    session->context()->post([session, reply = std::move(reply)] { session->handle_get(reply); });
  } else if (method == "POST") {
    // Content-Type may carry parameters; only the media type matters.
    bool binary = content_type.substr(0, content_type.find(';')) == "application/octet-stream";
    session->context()->post([session, body = std::move(body), binary, reply = std::move(reply)] {
      session->handle_post(body, binary, reply);
    });
  } else {
    reply->send(error_answer(kBadRequest));
  }
}

Result<EngineServer::WsTarget> EngineServer::resolve_websocket(std::string_view query) {
  auto q = parse_query(query);
  if (auto error = check_query(q, "websocket")) {
    return make_error(ErrorCode::kInvalidArgument, std::string(message_of(*error)));
  }
  if (!options_->allow_websocket) {
    return make_error(ErrorCode::kInvalidArgument, std::string(message_of(kTransportUnknown)));
  }
  if (!q->sid) {
    {
      std::lock_guard lock(registry_->mu);
      if (registry_->stopped || registry_->sessions.size() >= options_->max_sessions) {
        return make_error(ErrorCode::kUnavailable, "server full");
      }
    }
    return WsTarget{nullptr, new_context_()};
  }
  auto session = find(*q->sid);
  if (!session) {
    return make_error(ErrorCode::kInvalidArgument, std::string(message_of(kSessionIdUnknown)));
  }
  auto context = session->context();
  return WsTarget{std::move(session), std::move(context)};
}

std::shared_ptr<EngineSession> EngineServer::attach_websocket(const WsTarget& target,
                                                              std::shared_ptr<WsChannel> ws) {
  if (target.session) {
    target.session->handle_upgrade(std::move(ws));
    return target.session;
  }
  auto session = create_session(target.context, target.admission);
  if (!session) {
    ws->close();
    return nullptr;
  }
  (*session)->start_websocket(std::move(ws));
  return *session;
}

Result<std::shared_ptr<EngineSession>> EngineServer::create_session(
    std::shared_ptr<SessionContext> context, Admission admission) {
  std::weak_ptr<Registry> weak_registry = registry_;
  auto on_closed = [weak_registry](const std::string& sid) {
    if (auto registry = weak_registry.lock()) {
      std::shared_ptr<EngineSession> leaving;  // destroyed outside the lock
      Admission released;                      // likewise
      std::lock_guard lock(registry->mu);
      auto it = registry->sessions.find(sid);
      if (it != registry->sessions.end()) {
        leaving = std::move(it->second);
        registry->sessions.erase(it);
      }
      if (auto a = registry->admissions.find(sid); a != registry->admissions.end()) {
        released = std::move(a->second);
        registry->admissions.erase(a);
      }
    }
  };
  std::lock_guard lock(registry_->mu);
  if (registry_->stopped) return make_error(ErrorCode::kUnavailable, "server stopped");
  if (registry_->sessions.size() >= options_->max_sessions) {
    return make_error(ErrorCode::kUnavailable, "server full");
  }
  std::string sid = random_session_id();
  while (registry_->sessions.contains(sid)) sid = random_session_id();
  auto session = std::make_shared<EngineSession>(sid, options_, std::move(context), new_handler_(),
                                                 std::move(on_closed));
  if (admission) registry_->admissions.emplace(sid, std::move(admission));
  registry_->sessions.emplace(std::move(sid), session);
  return session;
}

std::shared_ptr<EngineSession> EngineServer::find(std::string_view sid) const {
  std::lock_guard lock(registry_->mu);
  auto it = registry_->sessions.find(std::string(sid));
  return it == registry_->sessions.end() ? nullptr : it->second;
}

void EngineServer::close_all(std::string_view reason) {
  stop_and_post_to_each([why = std::string(reason)](EngineSession& s) { s.close(why); });
}

void EngineServer::drain_all(std::string_view reason) {
  stop_and_post_to_each([why = std::string(reason)](EngineSession& s) { s.drain(why); });
}

void EngineServer::stop_and_post_to_each(const std::function<void(EngineSession&)>& fn) {
  std::vector<std::shared_ptr<EngineSession>> sessions;
  {
    std::lock_guard lock(registry_->mu);
    registry_->stopped = true;
    for (auto& [sid, session] : registry_->sessions) sessions.push_back(session);
  }
  for (auto& session : sessions) {
    session->context()->post([session, fn] { fn(*session); });
  }
}

size_t EngineServer::session_count() const {
  std::lock_guard lock(registry_->mu);
  return registry_->sessions.size();
}

}  // namespace insightd::socketio
