// Validation of a JSON value against a JSON Schema, for the subset of keywords
// that strict structured outputs accept (OpenAI's `strict: true`, and what
// vLLM, Ollama and llama.cpp turn into grammars): type (a name or a list, for
// nullable fields), properties, required, additionalProperties: false, items,
// enum, and the annotations title and description.
//
// Why not a general validator: Debian's only C++ one (valijson) pulls in Qt,
// Poco and MariaDB headers, and the schemas we send may not use more than this
// subset anyway. A schema using any other keyword is refused as a bug, so a
// constraint can never be silently ignored.
#pragma once

#include <boost/json/fwd.hpp>

#include "core/result.h"

namespace insightd::analysis {

// Ok when `value` satisfies `schema`. The first violation comes back as
// kInvalidArgument with its JSON path ("$.patterns[0].evidence: expected an
// array"). A schema outside the subset is kInternal.
Status validate_against_schema(const boost::json::value& value, const boost::json::value& schema);

}  // namespace insightd::analysis
