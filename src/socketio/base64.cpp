#include "socketio/base64.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <stdexcept>

namespace insightd::socketio {
namespace {

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock writes a NUL
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  // EVP_DecodeBlock skips whitespace and does not report padding, so the shape is
  // checked here and the padding bytes are taken off its output.
  size_t data_chars = text.size();
  while (data_chars > 0 && text[data_chars - 1] == '=') --data_chars;
  size_t padding = text.size() - data_chars;
  if (padding > 2) return std::nullopt;
  for (size_t i = 0; i < data_chars; ++i) {
    if (!is_base64_char(text[i])) return std::nullopt;
  }
  if (data_chars % 4 == 1) return std::nullopt;  // no whole byte in a lone character
  if (padding > 0 && (data_chars + padding) % 4 != 0) return std::nullopt;
  std::string padded(text.substr(0, data_chars));
  size_t missing = (4 - data_chars % 4) % 4;
  padded.append(missing, '=');
  if (padded.empty()) return std::string();
  std::string out(padded.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(padded.data()),
                          static_cast<int>(padded.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - missing);
  return out;
}

std::string random_session_id() {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char bytes[15];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    // Without a working CSPRNG no session can be made safely; this never happens
    // on a system where OpenSSL initialised.
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  std::string id;
  id.reserve(20);
  for (size_t i = 0; i < sizeof bytes; i += 3) {
    uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) id += kAlphabet[(v >> shift) & 63];
  }
  return id;
}

}  // namespace insightd::socketio
