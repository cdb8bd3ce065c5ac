#include "llm/openai/json_extract.hpp"

#include <nlohmann/json.hpp>

namespace hyperalign::llm::openai {
namespace {

// Candidates tried before giving up, so a reply full of stray braces costs bounded time.
constexpr int kMaxCandidates = 64;

// The end (one past the closing brace) of the object opening at text[start], by brace depth
// outside strings; npos when it never closes.
size_t balanced_end(std::string_view text, size_t start) {
    int depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (size_t i = start; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{') {
            ++depth;
        } else if (c == '}' && --depth == 0) {
            return i + 1;
        }
    }
    return std::string_view::npos;
}

}  // namespace

std::optional<std::string_view> first_json_object(std::string_view text) {
    size_t start = text.find('{');
    for (int tried = 0; start != std::string_view::npos && tried < kMaxCandidates; ++tried) {
        const size_t end = balanced_end(text, start);
        if (end != std::string_view::npos) {
            std::string_view candidate = text.substr(start, end - start);
            if (nlohmann::json::accept(candidate.begin(), candidate.end()))
                return candidate;
        }
        start = text.find('{', start + 1);
    }
    return std::nullopt;
}

}  // namespace hyperalign::llm::openai
