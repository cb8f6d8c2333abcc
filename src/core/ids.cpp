#include "core/ids.h"

#include <cstdint>
#include <random>
#include <string>

namespace insightd {
namespace {

std::mt19937_64& rng() {
  thread_local std::mt19937_64 engine = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  return engine;
}

constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// The 80 random bits of an id: 16 high bits and 64 low bits.
struct RandomPart {
  uint64_t hi = 0;
  uint64_t lo = 0;
};

// Within one millisecond a thread's ids count up from a random start (ULID's
// monotonic mode), so ids made one after another sort in creation order even when
// the clock has not moved, as with a FakeClock in tests.
RandomPart next_random_part(uint64_t ms) {
  thread_local uint64_t last_ms = 0;
  thread_local RandomPart last;
  thread_local bool have_last = false;
  if (have_last && ms == last_ms && !(last.hi == 0xFFFF && last.lo == UINT64_MAX)) {
    if (++last.lo == 0) ++last.hi;
    return last;
  }
  last = RandomPart{rng()() & 0xFFFF, rng()()};
  last_ms = ms;
  have_last = true;
  return last;
}

}  // namespace

std::string new_id(std::string_view prefix, Timestamp now) {
  std::string id;
  id.reserve(prefix.size() + 27);
  id += prefix;
  id += '_';
  // 10 characters of time (50 bits, top 2 always zero for 48-bit ms), most significant first.
  const auto ms = static_cast<uint64_t>(to_unix_ms(now)) & ((uint64_t{1} << 48) - 1);
  for (int i = 9; i >= 0; --i) id += kCrockford[(ms >> (i * 5)) & 31];
  // 16 characters of the 80-bit random part, most significant first so that
  // counting up within a millisecond also sorts up.
  const RandomPart r = next_random_part(ms);
  for (int i = 15; i >= 0; --i) {
    const int bit = i * 5;  // lowest bit of this character within the 80 bits
    uint64_t v;
    if (bit >= 64) {
      v = r.hi >> (bit - 64);
    } else if (bit + 5 <= 64) {
      v = r.lo >> bit;
    } else {
      v = (r.lo >> bit) | (r.hi << (64 - bit));
    }
    id += kCrockford[v & 31];
  }
  return id;
}

std::string new_id(std::string_view prefix) {
  return new_id(prefix, SystemClock::instance().now());
}

std::string new_token() {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string token;
  token.reserve(32);
  for (int part = 0; part < 2; ++part) {
    const uint64_t r = rng()();
    for (int i = 0; i < 16; ++i) token += kHex[(r >> (i * 4)) & 15];
  }
  return token;
}

}  // namespace insightd
