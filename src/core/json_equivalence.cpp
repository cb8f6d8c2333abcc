#include "core/json_equivalence.h"

#include <algorithm>
#include <cmath>

namespace insightd {

bool json_equivalent(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_number() || b.is_number()) {
    if (!a.is_number() || !b.is_number()) return false;
    const double x = a.to_number<double>();
    const double y = b.to_number<double>();
    return x == y || std::abs(x - y) <= 1e-15 * std::max(std::abs(x), std::abs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto& oa = a.get_object();
    const auto& ob = b.get_object();
    if (oa.size() != ob.size()) return false;
    return std::all_of(oa.begin(), oa.end(), [&ob](const auto& member) {
      const boost::json::value* other = ob.if_contains(member.key());
      return other != nullptr && json_equivalent(member.value(), *other);
    });
  }
  if (a.is_array()) {
    const auto& xa = a.get_array();
    const auto& xb = b.get_array();
    if (xa.size() != xb.size()) return false;
    for (size_t i = 0; i < xa.size(); ++i) {
      if (!json_equivalent(xa[i], xb[i])) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace insightd
