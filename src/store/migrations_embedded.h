// Generated at configure time from src/store/migrations/*/*.sql (see CMakeLists.txt).
#pragma once

#include <span>

namespace insightd::store {
struct Migration;
std::span<const Migration> sqlite_migrations();
std::span<const Migration> postgres_migrations();
}  // namespace insightd::store
