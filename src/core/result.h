// The one error model of insightd: expected failures cross module boundaries as
// values (Result<T> / Status), never as exceptions; bugs assert.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace insightd {

// What went wrong, coarse enough for callers to decide what to do next.
enum class ErrorCode {
  kInvalidArgument,    // the caller's input is wrong; retrying will not help
  kNotFound,           // the named thing does not exist
  kAlreadyExists,      // a unique key is taken (e.g. an event_id)
  kConflict,           // the request clashes with current state (e.g. a job already active)
  kIllegalTransition,  // a state machine refuses the move
  kLeaseLost,          // a fenced update lost its lease: someone else owns the job now
  kUnavailable,        // a dependency is down or overloaded; retrying later may help
  kInternal,           // an invariant broke; a bug or corrupt data
};

const char* to_string(ErrorCode code);

// True for errors that a caller may retry after a pause.
inline bool is_retryable(ErrorCode code) {
  return code == ErrorCode::kUnavailable;
}

struct Error {
  ErrorCode code;
  std::string message;
};

// Status: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  static Status ok() { return {}; }
  bool is_ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }
  ErrorCode code() const { return error().code; }
  const std::string& message() const { return error().message; }

 private:
  Error error_{ErrorCode::kInternal, {}};
  bool ok_ = true;
};

// Result<T>: a T or an Error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(status.error()) {}  // NOLINT: only from a failed Status

  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }

  T& value() & {
    assert(is_ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(is_ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(is_ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!is_ok());
    return std::get<1>(v_);
  }
  ErrorCode code() const { return error().code; }
  Status status() const { return is_ok() ? Status::ok() : Status(error()); }

 private:
  std::variant<T, Error> v_;
};

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace insightd

// Propagates a failed Status/Result from the enclosing function.
#define INSIGHTD_TRY(expr)                                          \
  do {                                                              \
    auto insightd_try_result_ = (expr);                             \
    if (!insightd_try_result_) return insightd_try_result_.error(); \
  } while (0)
