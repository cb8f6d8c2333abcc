// JSON text for people and for language models. Boost.JSON parses everything and
// escapes every string; this writer only changes how numbers look and adds
// indentation: Boost.JSON 1.81 prints 0.3 as "3E-1" and 92.1 as "9.21E1", which
// is valid JSON but hard to read, and a model asked to quote the numbers of the
// statistics would quote them in that form.
#pragma once

#include <boost/json/fwd.hpp>
#include <string>

namespace insightd::analysis {

enum class JsonLayout {
  kCompact,  // one line, no spaces: for request bodies and stored columns
  kPretty,   // two-space indentation: for the command line
};

// Serialises `value`; doubles in their shortest round-trip decimal form (0.3,
// 92.1, 1e-07), non-finite doubles as null. Parsing the text back gives `value`.
std::string to_json_text(const boost::json::value& value, JsonLayout layout = JsonLayout::kCompact);

}  // namespace insightd::analysis
