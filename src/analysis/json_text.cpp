#include "analysis/json_text.h"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cmath>

namespace insightd::analysis {
namespace {

namespace json = boost::json;

void newline(std::string& out, JsonLayout layout, int depth) {
  if (layout == JsonLayout::kCompact) return;
  out += '\n';
  out.append(static_cast<size_t>(depth) * 2, ' ');
}

void write(std::string& out, const json::value& v, JsonLayout layout, int depth) {
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      return;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case json::kind::int64:
      fmt::format_to(std::back_inserter(out), "{}", v.get_int64());
      return;
    case json::kind::uint64:
      fmt::format_to(std::back_inserter(out), "{}", v.get_uint64());
      return;
    case json::kind::double_: {
      const double d = v.get_double();
      if (!std::isfinite(d)) {
        out += "null";
      } else {
        // fmt's "{}" is the shortest text that reads back as the same double.
        fmt::format_to(std::back_inserter(out), "{}", d);
      }
      return;
    }
    case json::kind::string:
      out += json::serialize(v.get_string());
      return;
    case json::kind::array: {
      const auto& a = v.get_array();
      out += '[';
      bool first = true;
      for (const auto& item : a) {
        if (!first) out += ',';
        first = false;
        newline(out, layout, depth + 1);
        write(out, item, layout, depth + 1);
      }
      if (!a.empty()) newline(out, layout, depth);
      out += ']';
      return;
    }
    case json::kind::object: {
      const auto& o = v.get_object();
      out += '{';
      bool first = true;
      for (const auto& [key, item] : o) {
        if (!first) out += ',';
        first = false;
        newline(out, layout, depth + 1);
        out += json::serialize(json::string_view(key));
        out += layout == JsonLayout::kPretty ? ": " : ":";
        write(out, item, layout, depth + 1);
      }
      if (!o.empty()) newline(out, layout, depth);
      out += '}';
      return;
    }
  }
}

}  // namespace

std::string to_json_text(const json::value& value, JsonLayout layout) {
  std::string out;
  write(out, value, layout, 0);
  return out;
}

}  // namespace insightd::analysis
