#include "core/time.h"

#include <date/date.h>

namespace insightd {

void append_timestamp(std::string& out, Timestamp t) {
  // Written by hand: it runs several times per ingested event, and date::format
  // builds an ostringstream (and a locale) on every call.
  const auto day = std::chrono::floor<date::days>(t);
  const date::year_month_day ymd(day);
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) {
    out += date::format("%FT%TZ", t);
    return;
  }
  int64_t ms = (t - day).count();  // 0 .. 86'399'999
  const size_t at = out.size();
  out += "0000-00-00T00:00:00.000Z";
  auto put = [&out, at](size_t pos, int64_t value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      out[at + pos + static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  put(0, year, 4);
  put(5, static_cast<unsigned>(ymd.month()), 2);
  put(8, static_cast<unsigned>(ymd.day()), 2);
  put(20, ms % 1000, 3);
  ms /= 1000;
  put(17, ms % 60, 2);
  ms /= 60;
  put(14, ms % 60, 2);
  put(11, ms / 60, 2);
}

std::string format_timestamp(Timestamp t) {
  std::string out;
  append_timestamp(out, t);
  return out;
}

namespace {

// Reads `n` ASCII digits at `pos`; -1 if any is not a digit or the text is too short.
int read_digits(std::string_view text, size_t pos, size_t n) {
  if (pos + n > text.size()) return -1;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// A strict reading of RFC 3339's date-time: fixed-width fields, any number of
// fraction digits (at least one after '.'), 'T'/'t'/' ' between date and time,
// and an offset that is 'Z'/'z' or +hh:mm / -hh:mm within range. Checked by hand
// because date::parse accepts short fields, an empty fraction and offsets such as
// +25:00, and refuses more than six fraction digits; the calendar arithmetic is date's.
std::optional<Timestamp> parse_strict(std::string_view text) {
  // 64 leaves room for nanosecond (and longer) fractions; real inputs are < 40.
  if (text.size() < 20 || text.size() > 64) return std::nullopt;
  const int year = read_digits(text, 0, 4);
  const int month = read_digits(text, 5, 2);
  const int day = read_digits(text, 8, 2);
  const int hour = read_digits(text, 11, 2);
  const int minute = read_digits(text, 14, 2);
  const int second = read_digits(text, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return std::nullopt;
  if (text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':') return std::nullopt;
  if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return std::nullopt;
  // Leap seconds (:60) are refused: no client clock produces them.
  if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
  const date::year_month_day ymd{date::year{year}, date::month{static_cast<unsigned>(month)},
                                 date::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;

  size_t pos = 19;
  int millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const size_t first = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      // Only the first three digits count; the rest are truncated.
      if (pos - first < 3) millis = millis * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == first) return std::nullopt;
    for (size_t i = pos - first; i < 3; ++i) millis *= 10;
  }

  int offset_minutes = 0;
  if (pos >= text.size()) return std::nullopt;
  const char sign = text[pos];
  if (sign == 'Z' || sign == 'z') {
    ++pos;
  } else if (sign == '+' || sign == '-') {
    const int off_h = read_digits(text, pos + 1, 2);
    const int off_m = read_digits(text, pos + 4, 2);
    if (off_h < 0 || off_m < 0 || text[pos + 3] != ':') return std::nullopt;
    if (off_h > 23 || off_m > 59) return std::nullopt;
    offset_minutes = (sign == '+' ? 1 : -1) * (off_h * 60 + off_m);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;

  // Whole units first, then the fraction, so sub-millisecond digits are truncated
  // toward the past even before 1970.
  const auto local = date::sys_days(ymd) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
                     std::chrono::seconds(second) + Millis(millis);
  return Timestamp(local - std::chrono::minutes(offset_minutes));
}

}  // namespace

std::optional<Timestamp> parse_rfc3339(std::string_view text) {
  return parse_strict(text);
}

std::optional<Timestamp> parse_db_timestamp(std::string_view text) {
  // PostgreSQL prints "+00" (no minutes) for whole-hour offsets.
  if (text.size() >= 3 && (text[text.size() - 3] == '+' || text[text.size() - 3] == '-')) {
    std::string s(text);
    s += ":00";
    return parse_strict(s);
  }
  return parse_strict(text);
}

Timestamp SystemClock::now() const {
  return std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
}

const SystemClock& SystemClock::instance() {
  static const SystemClock clock;
  return clock;
}

}  // namespace insightd
