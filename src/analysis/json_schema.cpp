#include "analysis/json_schema.h"

#include <fmt/format.h>

#include <boost/json/value.hpp>
#include <cmath>
#include <string>
#include <string_view>

namespace insightd::analysis {
namespace {

namespace json = boost::json;

std::string_view view(json::string_view s) {
  return {s.data(), s.size()};
}

bool has_type(const json::value& v, std::string_view type) {
  if (type == "null") return v.is_null();
  if (type == "boolean") return v.is_bool();
  if (type == "string") return v.is_string();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "number") return v.is_number();
  if (type == "integer") {
    if (v.is_int64() || v.is_uint64()) return true;
    // JSON Schema counts 1.0 as an integer: the text is a number either way.
    return v.is_double() && std::isfinite(v.get_double()) &&
           std::trunc(v.get_double()) == v.get_double();
  }
  return false;
}

std::string_view describe(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

Status bad_schema(const std::string& path, std::string_view what) {
  return make_error(ErrorCode::kInternal, fmt::format("schema at {}: {}", path, what));
}

Status violation(const std::string& path, std::string_view what) {
  return make_error(ErrorCode::kInvalidArgument, fmt::format("{}: {}", path, what));
}

Status validate(const json::value& v, const json::value& schema_value, const std::string& path);

Status check_type(const json::value& v, const json::value& type, const std::string& path) {
  if (type.is_string()) {
    if (has_type(v, view(type.get_string()))) return Status::ok();
    return violation(path,
                     fmt::format("expected {}, got {}", view(type.get_string()), describe(v)));
  }
  if (!type.is_array()) return bad_schema(path, "type must be a name or a list of names");
  std::string names;
  for (const auto& t : type.get_array()) {
    if (!t.is_string()) return bad_schema(path, "type must be a name or a list of names");
    if (has_type(v, view(t.get_string()))) return Status::ok();
    if (!names.empty()) names += " or ";
    names += view(t.get_string());
  }
  return violation(path, fmt::format("expected {}, got {}", names, describe(v)));
}

Status check_object(const json::object& o, const json::object& schema, const std::string& path) {
  const json::object* properties = nullptr;
  if (const auto* p = schema.if_contains("properties")) {
    properties = p->if_object();
    if (properties == nullptr) return bad_schema(path, "properties must be an object");
  }
  if (const auto* r = schema.if_contains("required")) {
    if (!r->is_array()) return bad_schema(path, "required must be a list");
    for (const auto& name : r->get_array()) {
      if (!name.is_string()) return bad_schema(path, "required must list names");
      if (!o.contains(name.get_string())) {
        return violation(path,
                         fmt::format("missing required field \"{}\"", view(name.get_string())));
      }
    }
  }
  bool closed = false;
  if (const auto* a = schema.if_contains("additionalProperties")) {
    if (!a->is_bool()) return bad_schema(path, "additionalProperties must be a boolean");
    closed = !a->get_bool();
  }
  for (const auto& [key, item] : o) {
    const json::value* sub = properties != nullptr ? properties->if_contains(key) : nullptr;
    const std::string sub_path = fmt::format("{}.{}", path, view(key));
    if (sub == nullptr) {
      if (closed) return violation(path, fmt::format("unexpected field \"{}\"", view(key)));
      continue;
    }
    INSIGHTD_TRY(validate(item, *sub, sub_path));
  }
  return Status::ok();
}

Status validate(const json::value& v, const json::value& schema_value, const std::string& path) {
  const json::object* schema = schema_value.if_object();
  if (schema == nullptr) return bad_schema(path, "a schema must be an object");
  for (const auto& [key, unused] : *schema) {
    const std::string_view k = view(key);
    if (k != "type" && k != "properties" && k != "required" && k != "additionalProperties" &&
        k != "items" && k != "enum" && k != "description" && k != "title") {
      return bad_schema(path, fmt::format("unsupported keyword \"{}\"", k));
    }
  }
  if (const auto* type = schema->if_contains("type")) INSIGHTD_TRY(check_type(v, *type, path));
  if (const auto* allowed = schema->if_contains("enum")) {
    if (!allowed->is_array()) return bad_schema(path, "enum must be a list");
    bool found = false;
    for (const auto& option : allowed->get_array()) found = found || option == v;
    if (!found) return violation(path, "value is not one of the allowed values");
  }
  if (const auto* o = v.if_object()) INSIGHTD_TRY(check_object(*o, *schema, path));
  if (const auto* a = v.if_array()) {
    if (const auto* items = schema->if_contains("items")) {
      for (size_t i = 0; i < a->size(); ++i) {
        INSIGHTD_TRY(validate((*a)[i], *items, fmt::format("{}[{}]", path, i)));
      }
    }
  }
  return Status::ok();
}

}  // namespace

Status validate_against_schema(const json::value& value, const json::value& schema) {
  return validate(value, schema, "$");
}

}  // namespace insightd::analysis
