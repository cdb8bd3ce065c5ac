#pragma once

#include <optional>
#include <string_view>

namespace hyperalign::llm::openai {

// The first balanced JSON object in a model's free-form reply, for servers that cannot constrain
// output: code fences, a preamble ("Sure! Here is the JSON:") and trailing remarks are skipped.
// Braces inside JSON strings are ignored. A balanced span that does not parse as JSON (prose
// such as "{name}") is passed over for the next '{'. nullopt when there is none. The view
// points into `text`.
std::optional<std::string_view> first_json_object(std::string_view text);

}  // namespace hyperalign::llm::openai
