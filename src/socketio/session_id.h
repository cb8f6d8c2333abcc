// Engine.IO session ids and Socket.IO socket ids: 20 characters of the URL-safe
// base64 alphabet from 120 bits of OpenSSL's CSPRNG. They must not be
// guessable, since knowing one is enough to speak for the client.
#pragma once

#include <string>

namespace insightd::socketio {

std::string random_session_id();

}  // namespace insightd::socketio
