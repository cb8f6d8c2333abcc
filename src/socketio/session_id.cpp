#include "socketio/session_id.h"

#include <openssl/rand.h>

#include <stdexcept>

#include "core/base64.h"

namespace insightd::socketio {

std::string random_session_id() {
  std::string bytes(15, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(bytes.size())) !=
      1) {
    // Without a working CSPRNG no session can be made safely; this never happens
    // on a system where OpenSSL initialised.
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  return base64url_encode(bytes);
}

}  // namespace insightd::socketio
