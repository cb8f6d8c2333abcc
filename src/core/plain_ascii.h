// Scanning text for the bytes JSON writes as they are, eight at a time: the
// event path's readers and writers spend much of their time in such scans.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace insightd {

// The length of the longest prefix of `s` made of printable ASCII (0x20..0x7E)
// other than '"' and '\\': what a JSON string holds and writes with no escape.
inline size_t plain_ascii_prefix(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  // The high bit of each byte of x that is special (and perhaps of bytes
  // after the first special one: a borrow only runs upwards, so the lowest
  // flag, the first byte in memory, is always exact).
  auto special = [](uint64_t x) {
    auto zero_byte = [](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
    return (x & kHigh)                                                     // 0x80 and above
           | zero_byte(x ^ (kOnes * 0x7F))                                 // DEL
           | zero_byte(x ^ (kOnes * '"')) | zero_byte(x ^ (kOnes * '\\'))  // '"', '\\'
           | ((x - kOnes * 0x20) & ~x & kHigh);                            // below 0x20
  };
  auto load = [&s](size_t at) {
    uint64_t x = 0;
    std::memcpy(&x, s.data() + at, 8);
    if constexpr (std::endian::native == std::endian::big) x = __builtin_bswap64(x);
    return x;
  };
  const size_t n = s.size();
  if (n < 8) {
    size_t i = 0;
    while (i < n) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') break;
      ++i;
    }
    return i;
  }
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (const uint64_t flags = special(load(i)); flags != 0) {
      return i + static_cast<size_t>(std::countr_zero(flags) / 8);
    }
  }
  if (i == n) return n;
  // The last bytes: the final eight, less those already read.
  const uint64_t flags = special(load(n - 8)) & (~0ULL << (8 * (8 - (n - i))));
  return flags != 0 ? n - 8 + static_cast<size_t>(std::countr_zero(flags) / 8) : n;
}

}  // namespace insightd
