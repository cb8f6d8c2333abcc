#include "core/base64.h"

#include <sodium.h>

#include <algorithm>

namespace insightd {
namespace {

std::string encode(std::string_view bytes, int variant) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), variant);
  out.pop_back();  // the encoded length counts the NUL
  return out;
}

std::optional<std::string> decode(std::string_view text, int variant) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, nullptr, variant) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  return encode(bytes, sodium_base64_VARIANT_ORIGINAL);
}

std::optional<std::string> base64_decode(std::string_view text) {
  // libsodium wants the padding when its variant has it and refuses it when not.
  const int variant = text.ends_with('=') ? sodium_base64_VARIANT_ORIGINAL
                                          : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
  // It also refuses a last character whose unused low bits are set (4 of them
  // after 2 characters of a group, 2 after 3): clear them first.
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const size_t data_chars = std::min(text.find('='), text.size());
  const size_t tail = data_chars % 4;
  const size_t last = data_chars == 0 ? kAlphabet.npos : kAlphabet.find(text[data_chars - 1]);
  if ((tail == 2 || tail == 3) && last != kAlphabet.npos) {
    std::string canonical(text);
    canonical[data_chars - 1] = kAlphabet[last & (tail == 2 ? 0x30 : 0x3c)];
    return decode(canonical, variant);
  }
  return decode(text, variant);
}

std::string base64url_encode(std::string_view bytes) {
  return encode(bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

std::optional<std::string> base64url_decode(std::string_view text) {
  return decode(text, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

}  // namespace insightd
