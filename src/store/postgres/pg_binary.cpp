#include "store/postgres/pg_binary.h"

#include <chrono>
#include <utility>

namespace insightd::store::pg {
namespace {

// The header: ndim, has-null flag, element oid, then the one dimension's
// length and lower bound; the flag and the length are written by take().
constexpr size_t kHeaderBytes = 20;
constexpr size_t kFlagAt = 4;
constexpr size_t kLengthAt = 12;

// PostgreSQL counts timestamps in microseconds from 2000-01-01T00:00:00Z.
constexpr int64_t kPgEpochUnixSeconds = 946'684'800;

void store32(std::string& out, size_t at, uint32_t v) {
  out[at] = static_cast<char>(v >> 24);
  out[at + 1] = static_cast<char>(v >> 16);
  out[at + 2] = static_cast<char>(v >> 8);
  out[at + 3] = static_cast<char>(v);
}

}  // namespace

BinaryArray::BinaryArray(ElementType type, size_t expected, size_t bytes_each) {
  bytes_.reserve(kHeaderBytes + expected * (4 + bytes_each));
  put32(1);  // one dimension
  put32(0);  // has nulls: set by take()
  put32(static_cast<uint32_t>(type));
  put32(0);  // its length: set by take()
  put32(1);  // its lower bound
}

void BinaryArray::put32(uint32_t v) {
  bytes_.append(4, '\0');
  store32(bytes_, bytes_.size() - 4, v);
}

void BinaryArray::put64(uint64_t v) {
  put32(static_cast<uint32_t>(v >> 32));
  put32(static_cast<uint32_t>(v));
}

void BinaryArray::add_null() {
  put32(0xFFFFFFFFU);  // length -1
  has_null_ = true;
  ++count_;
}

void BinaryArray::add_text(std::string_view text) {
  put32(static_cast<uint32_t>(text.size()));
  bytes_ += text;
  ++count_;
}

void BinaryArray::add_int8(int64_t value) {
  put32(8);
  put64(static_cast<uint64_t>(value));
  ++count_;
}

void BinaryArray::add_timestamptz(Timestamp t) {
  const int64_t ms = t.time_since_epoch().count();
  put32(8);
  put64(static_cast<uint64_t>((ms - kPgEpochUnixSeconds * 1000) * 1000));
  ++count_;
}

void BinaryArray::add_jsonb(std::string_view json) {
  put32(static_cast<uint32_t>(json.size() + 1));
  bytes_ += '\1';  // jsonb's binary format version: the JSON text follows
  bytes_ += json;
  ++count_;
}

SqlValue BinaryArray::take() {
  store32(bytes_, kFlagAt, has_null_ ? 1 : 0);
  store32(bytes_, kLengthAt, static_cast<uint32_t>(count_));
  return SqlBlob{std::exchange(bytes_, {})};
}

}  // namespace insightd::store::pg
