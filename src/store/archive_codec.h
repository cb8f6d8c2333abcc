// The archived form of one batch's events ("ArchivedBatch".data): every
// "Event" row, each column as the database gives it as text (NULL as null),
// one JSON array per line, compressed with zstd; a SHA-256 over the
// uncompressed lines is kept beside it, and one over the compressed bytes
// ("sha256:<lines> data-sha256:<bytes>"): a flipped bit where zstd does not
// look (padding in its bit streams) leaves the lines intact, and is refused
// all the same. Columns as text is what makes a
// restore give back every column unchanged on both databases: each one
// converts its own text back to the column's type exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace insightd::store {

// One "Event" row in archive_codec's column order (kArchivedEventColumns).
using ArchivedRow = std::vector<std::optional<std::string>>;

// What "ArchivedBatch".codec says for this format.
inline constexpr std::string_view kArchiveCodec = "zstd-jsonl-v1";

// The most uncompressed bytes one archived batch may hold: what decode()
// allocates at most, whatever the stored sizes claim.
inline constexpr int64_t kMaxArchiveRawBytes = int64_t{1} << 30;

struct EncodedArchive {
  std::string data;  // compressed
  int64_t raw_bytes = 0;
  std::string checksum;  // "sha256:<64 hex> data-sha256:<64 hex>"
};

// The rows in archived form (zstd level `level`).
Result<EncodedArchive> encode_archive(std::span<const ArchivedRow> rows, int level = 3);

// The same in two parts, for a caller that holds the columns elsewhere:
// append each row's line to one string, then compress it. encode_archive()
// is exactly these.
void append_archive_line(std::string& raw, std::span<const std::optional<std::string>> columns);
Result<EncodedArchive> compress_archive(std::string_view raw, int level = 3);

// The rows back, checked: the codec known, the sizes as stored, the checksum
// matching. Anything else is a kInternal error naming what is wrong (a
// corrupted archive is refused, never half read).
Result<std::vector<ArchivedRow>> decode_archive(std::string_view codec, std::string_view data,
                                                int64_t raw_bytes, std::string_view checksum);

// "sha256:<hex>" of `bytes`.
std::string archive_checksum(std::string_view bytes);

}  // namespace insightd::store
