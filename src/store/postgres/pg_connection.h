// PostgreSQL driver on libpq: one session with prepared statements cached by text.
#pragma once

#include <memory>
#include <string>

#include "store/sql.h"

namespace insightd::store {

// Connects to a postgresql:// URL. The session runs in UTC so timestamps come
// back in one form. kUnavailable when the server cannot be reached.
Result<std::unique_ptr<SqlConnection>> open_postgres(const std::string& url);

// Checks a postgresql:// URL without connecting; the message never repeats the password.
Status check_postgres_url(const std::string& url);

}  // namespace insightd::store
