#include "core/plain_ascii.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace insightd {
namespace {

// The byte-by-byte definition, to hold the eight-at-a-time scan to.
size_t slow_prefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') break;
    ++i;
  }
  return i;
}

TEST(PlainAsciiPrefix, StopsAtTheFirstByteJsonWouldEscapeOrThatIsNotAscii) {
  EXPECT_EQ(plain_ascii_prefix(""), 0U);
  EXPECT_EQ(plain_ascii_prefix("page_view"), 9U);
  EXPECT_EQ(plain_ascii_prefix("0123456789abcdef\"rest"), 16U);
  EXPECT_EQ(plain_ascii_prefix("01234567\\n"), 8U);
  EXPECT_EQ(plain_ascii_prefix("caf\xc3\xa9 and more text"), 3U);
  EXPECT_EQ(plain_ascii_prefix(std::string("abcdefghij\0k", 12)), 10U);
  EXPECT_EQ(plain_ascii_prefix("abcdefghijklm\x7fn"), 13U);
}

// Every byte value at every position of a 24-byte text, against the byte loop.
TEST(PlainAsciiPrefix, AgreesWithTheByteLoopForEveryByteAtEveryPosition) {
  for (size_t at = 0; at < 24; ++at) {
    for (int b = 0; b < 256; ++b) {
      std::string s(24, 'x');
      s[at] = static_cast<char>(b);
      ASSERT_EQ(plain_ascii_prefix(s), slow_prefix(s)) << "byte " << b << " at " << at;
      // and just short of it, so that the tail loop sees it too
      const std::string_view cut(s.data(), at + 1);
      ASSERT_EQ(plain_ascii_prefix(cut), slow_prefix(cut)) << "byte " << b << " at " << at;
    }
  }
}

// Texts of every length to 40 with several special bytes, or none, anywhere.
TEST(PlainAsciiPrefix, AgreesWithTheByteLoopOnRandomTexts) {
  std::mt19937 rng(20261207);
  const std::string specials = std::string("\"\\\x7f\x80\xff\x1f\n", 7) + std::string(1, '\0');
  for (int round = 0; round < 200'000; ++round) {
    std::string s(rng() % 41, 'a');
    for (char& c : s) c = static_cast<char>(0x20 + rng() % 0x5F);  // printable ASCII
    const int planted = static_cast<int>(rng() % 4);
    for (int k = 0; k < planted && !s.empty(); ++k)
      s[rng() % s.size()] = specials[rng() % specials.size()];
    ASSERT_EQ(plain_ascii_prefix(s), slow_prefix(s)) << "round " << round;
  }
}

}  // namespace
}  // namespace insightd
