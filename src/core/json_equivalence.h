// The equality a reader of stored JSON sees: object keys in any order
// (PostgreSQL's jsonb reorders them) and numbers by value (jsonb keeps decimals,
// not Boost.JSON's int64/uint64/double kinds; equal within 1e-15 relative, the
// precision a double round trip through decimal text keeps). Used to check that
// what the validator accepts reads back unchanged from every store.
#pragma once

#include <boost/json/value.hpp>

namespace insightd {

bool json_equivalent(const boost::json::value& a, const boost::json::value& b);

}  // namespace insightd
