#include "auth/tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <cstdio>
#include <cstdlib>

#include "core/base64.h"

namespace insightd::auth {
namespace {

constexpr size_t kTokenBytes = 32;

std::string to_hex(const unsigned char* data, size_t size) {
  std::string out(size * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data, size);
  out.pop_back();
  return out;
}

void hmac_sha256(std::string_view key, std::string_view data, unsigned char* out) {
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
}

}  // namespace

std::string random_token(size_t bytes) {
  std::string buf(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(buf.data()), static_cast<int>(buf.size())) != 1) {
    // Never hand out a guessable secret; nothing sensible can continue.
    std::fputs("insightd: the system's random number generator failed\n", stderr);
    std::abort();
  }
  return base64url_encode(buf);
}

std::string new_session_token() {
  return random_token(kTokenBytes);
}

std::string new_api_token() {
  return std::string(kApiTokenPrefix) + random_token(kTokenBytes);
}

bool looks_like_api_token(std::string_view token) {
  if (!token.starts_with(kApiTokenPrefix)) return false;
  token.remove_prefix(kApiTokenPrefix.size());
  if (token.size() != 43) return false;
  for (char c : token) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string sha256_bytes(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), len);
}

std::string sha256_hex(std::string_view data) {
  const std::string digest = sha256_bytes(data);
  return to_hex(reinterpret_cast<const unsigned char*>(digest.data()), digest.size());
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char mac[32];
  hmac_sha256(key, data, mac);
  return to_hex(mac, sizeof mac);
}

std::string session_token_digest(std::string_view auth_secret, std::string_view session_token) {
  return hmac_sha256_hex(auth_secret, std::string("session:") + std::string(session_token));
}

std::string api_token_digest(std::string_view token) {
  return sha256_hex(token);
}

std::string csrf_token_for(std::string_view auth_secret, std::string_view session_token) {
  unsigned char mac[32];
  hmac_sha256(auth_secret, std::string("csrf:") + std::string(session_token), mac);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace insightd::auth
