// Both forms of base64 against RFC 4648's vectors, round trips of every length,
// and what each refuses: padding, whitespace, the other alphabet, stray bits.
#include "core/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace insightd {
namespace {

TEST(Base64Test, EncodesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Test, TheAlphabetsDifferInTheirLastTwoCharacters) {
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(base64_encode(bytes), "+/+/");
  EXPECT_EQ(base64url_encode(bytes), "-_-_");
}

TEST(Base64Test, RoundTripsEveryLength) {
  std::string bytes;
  for (int n = 0; n < 70; ++n) {
    EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes) << n;
    EXPECT_EQ(base64url_decode(base64url_encode(bytes)), bytes) << n;
    bytes += static_cast<char>(n * 37);
  }
}

TEST(Base64Test, StandardAcceptsMissingPaddingAndStrayBits) {
  EXPECT_EQ(base64_decode("AQIDBA=="), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(base64_decode("AQIDBA"), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(base64_decode("AQID"), std::string("\x01\x02\x03", 3));
  EXPECT_EQ(base64_decode("AQI"), std::string("\x01\x02", 2));
  // Bits of the last character that no byte uses are ignored, as atob() does.
  EXPECT_EQ(base64_decode("AR=="), std::string("\x01", 1));
  EXPECT_EQ(base64_decode("AR"), std::string("\x01", 1));
  EXPECT_EQ(base64_decode("AQJ"), std::string("\x01\x02", 2));
  EXPECT_EQ(base64_decode("/w"), std::string("\xff", 1));
  EXPECT_EQ(base64_decode(""), std::string());
}

TEST(Base64Test, StandardRefusesJunk) {
  for (const char* bad : {"AQ ID", "AQID\n", "AQ=D", "A", "AQIDB",
                          "AQIDB===", "AQ=", "AQI==", "AQ===", "=", "==", "AQID=", "AQ-_"}) {
    EXPECT_FALSE(base64_decode(bad)) << "'" << bad << "'";
  }
  EXPECT_FALSE(base64_decode(std::string("AQ\0I", 4)));
}

TEST(Base64Test, UrlSafeRefusesPaddingTheOtherAlphabetAndStrayBits) {
  EXPECT_EQ(base64url_decode("Zm8"), "fo");
  EXPECT_EQ(base64url_decode("-_-_"), std::string("\xfb\xff\xbf", 3));
  for (const char* bad : {"Zm8=", "Zg==", "+/+/", "Zm 8", "Zm8\n", "Z", "Zh", "AR", "Zm8.", "="}) {
    EXPECT_FALSE(base64url_decode(bad)) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace insightd
