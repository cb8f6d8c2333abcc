// One-dimensional arrays in PostgreSQL's binary format (what array_recv
// reads), sent as binary parameters: unnest($1::text[], ...) then turns them
// into rows with no text to parse but each jsonb's own. The element type must
// be the one the statement casts the parameter to.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/time.h"
#include "store/sql.h"

namespace insightd::store::pg {

// The element types used here (pg_type's oids).
enum class ElementType : uint32_t {
  kInt8 = 20,
  kText = 25,
  kTimestampTz = 1184,
  kJsonb = 3802,
};

class BinaryArray {
 public:
  // `expected` elements reserve their room; more or fewer may be added.
  BinaryArray(ElementType type, size_t expected, size_t bytes_each = 16);

  void add_null();
  void add_text(std::string_view text);   // text
  void add_int8(int64_t value);           // int8
  void add_timestamptz(Timestamp t);      // timestamptz
  void add_jsonb(std::string_view json);  // jsonb, from JSON text
  size_t size() const { return count_; }

  // The parameter to bind (the array is spent).
  SqlValue take();

 private:
  void put32(uint32_t v);
  void put64(uint64_t v);

  std::string bytes_;
  size_t count_ = 0;
  bool has_null_ = false;
};

}  // namespace insightd::store::pg
