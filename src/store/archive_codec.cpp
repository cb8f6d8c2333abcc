#include "store/archive_codec.h"

#include <fmt/format.h>
#include <openssl/sha.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <memory>
#include <vector>

#include "core/event_json.h"

namespace insightd::store {

namespace {

Error corrupt(std::string_view why) {
  return Error{ErrorCode::kInternal, fmt::format("archive is corrupt: {}", why)};
}

// One compression context per thread, reused: a fresh one per batch costs
// an allocation and its clearing every time.
ZSTD_CCtx* compression_context() {
  thread_local const std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> kContext(ZSTD_createCCtx(),
                                                                                 ZSTD_freeCCtx);
  return kContext.get();
}

}  // namespace

std::string archive_checksum(std::string_view bytes) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest.data());
  std::string out = "sha256:";
  out.reserve(7 + 2 * digest.size());
  for (const unsigned char b : digest) fmt::format_to(std::back_inserter(out), "{:02x}", b);
  return out;
}

void append_archive_line(std::string& raw, std::span<const std::optional<std::string>> columns) {
  raw += '[';
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) raw += ',';
    if (columns[i]) {
      append_json_string(raw, *columns[i]);
    } else {
      raw += "null";
    }
  }
  raw += "]\n";
}

Result<EncodedArchive> encode_archive(std::span<const ArchivedRow> rows, int level) {
  std::string raw;
  for (const ArchivedRow& row : rows) append_archive_line(raw, row);
  return compress_archive(raw, level);
}

Result<EncodedArchive> compress_archive(std::string_view raw, int level) {
  if (static_cast<int64_t>(raw.size()) > kMaxArchiveRawBytes) {
    return Error{ErrorCode::kInvalidArgument,
                 fmt::format("a batch of {} bytes is too large to archive", raw.size())};
  }
  // Compressed into a buffer kept per thread (a string's resize would clear
  // the bound's worth of bytes first), then copied out at its real size.
  thread_local std::vector<char> buffer;
  buffer.resize(std::max(buffer.size(), ZSTD_compressBound(raw.size())));
  const size_t n = ZSTD_compressCCtx(compression_context(), buffer.data(), buffer.size(),
                                     raw.data(), raw.size(), level);
  if (ZSTD_isError(n) != 0) {
    return Error{ErrorCode::kInternal, fmt::format("zstd: {}", ZSTD_getErrorName(n))};
  }
  EncodedArchive out;
  out.data.assign(buffer.data(), n);
  out.raw_bytes = static_cast<int64_t>(raw.size());
  out.checksum = fmt::format("{} data-{}", archive_checksum(raw), archive_checksum(out.data));
  return out;
}

Result<std::vector<ArchivedRow>> decode_archive(std::string_view codec, std::string_view data,
                                                int64_t raw_bytes, std::string_view checksum) {
  if (codec != kArchiveCodec) {
    return Error{ErrorCode::kInternal, fmt::format("unknown archive codec '{}'", codec)};
  }
  // "sha256:<lines> data-sha256:<bytes>".
  const size_t space = checksum.find(' ');
  if (space == std::string_view::npos) return corrupt("a checksum without its second part");
  const std::string_view of_lines = checksum.substr(0, space);
  if (checksum.substr(space + 1) != "data-" + archive_checksum(data)) {
    return corrupt("the stored bytes' checksum does not match");
  }
  if (raw_bytes <= 0 || raw_bytes > kMaxArchiveRawBytes) {
    return corrupt(fmt::format("{} uncompressed bytes recorded", raw_bytes));
  }
  // The frame's own size must agree with the row's before anything is allocated.
  const unsigned long long framed = ZSTD_getFrameContentSize(data.data(), data.size());
  if (framed == ZSTD_CONTENTSIZE_ERROR || framed == ZSTD_CONTENTSIZE_UNKNOWN ||
      framed != static_cast<unsigned long long>(raw_bytes)) {
    return corrupt("the compressed frame does not hold the recorded size");
  }
  std::string raw(static_cast<size_t>(raw_bytes), '\0');
  const size_t n = ZSTD_decompress(raw.data(), raw.size(), data.data(), data.size());
  if (ZSTD_isError(n) != 0) return corrupt(fmt::format("zstd: {}", ZSTD_getErrorName(n)));
  if (n != raw.size()) return corrupt("fewer bytes than recorded");
  if (archive_checksum(raw) != of_lines) return corrupt("checksum mismatch");

  std::vector<ArchivedRow> rows;
  size_t at = 0;
  while (at < raw.size()) {
    const size_t end = raw.find('\n', at);
    if (end == std::string::npos) return corrupt("a line without its end");
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(std::string_view(raw).substr(at, end - at), ec);
    if (ec || !v.is_array()) return corrupt("a line that is not a JSON array");
    ArchivedRow row;
    row.reserve(v.as_array().size());
    for (const boost::json::value& col : v.as_array()) {
      if (col.is_null()) {
        row.emplace_back(std::nullopt);
      } else if (col.is_string()) {
        row.emplace_back(std::string(col.as_string()));
      } else {
        return corrupt("a column that is neither text nor null");
      }
    }
    rows.push_back(std::move(row));
    at = end + 1;
  }
  return rows;
}

}  // namespace insightd::store
