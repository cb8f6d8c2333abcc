#include "auth/password.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <semaphore>

#include "auth/tokens.h"

namespace insightd::auth {
namespace {

constexpr unsigned long long kOpsLimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
constexpr size_t kMemLimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;

// Two Argon2id runs at a time: 128 MiB at most, whatever the number of requests.
std::counting_semaphore<2>& hashing_slots() {
  static std::counting_semaphore<2> slots(2);
  return slots;
}

class HashingSlot {
 public:
  HashingSlot() {
    ensure_sodium();
    hashing_slots().acquire();
  }
  // Takes a slot only if one is free now; held() says whether it did.
  explicit HashingSlot(std::try_to_lock_t) {
    ensure_sodium();
    held_ = hashing_slots().try_acquire();
  }
  ~HashingSlot() {
    if (held_) hashing_slots().release();
  }
  bool held() const { return held_; }
  HashingSlot(const HashingSlot&) = delete;
  HashingSlot& operator=(const HashingSlot&) = delete;

 private:
  bool held_ = true;
  static void ensure_sodium() {
    static const bool ready = [] {
      if (sodium_init() < 0) {
        std::fputs("insightd: libsodium cannot initialise\n", stderr);
        std::abort();
      }
      return true;
    }();
    (void)ready;
  }
};

}  // namespace

Result<std::string> hash_password(std::string_view password) {
  HashingSlot slot;
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), kOpsLimit, kMemLimit) != 0) {
    return make_error(ErrorCode::kInternal, "out of memory while hashing a password");
  }
  return std::string(out);
}

namespace {

bool verify_holding_slot(std::string_view encoded_hash, std::string_view password) {
  if (encoded_hash.empty() || encoded_hash.size() >= crypto_pwhash_STRBYTES) return false;
  const std::string hash(encoded_hash);  // libsodium wants it NUL-terminated
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

}  // namespace

bool verify_password(std::string_view encoded_hash, std::string_view password) {
  HashingSlot slot;
  return verify_holding_slot(encoded_hash, password);
}

Result<bool> try_verify_password(std::string_view encoded_hash, std::string_view password) {
  HashingSlot slot(std::try_to_lock);
  if (!slot.held()) {
    return make_error(ErrorCode::kUnavailable, "sign-in is busy; retry in a moment");
  }
  return verify_holding_slot(encoded_hash, password);
}

bool password_needs_rehash(std::string_view encoded_hash) {
  const std::string hash(encoded_hash);
  return crypto_pwhash_str_needs_rehash(hash.c_str(), kOpsLimit, kMemLimit) != 0;
}

std::string generate_password() {
  return random_token(18);
}

}  // namespace insightd::auth
