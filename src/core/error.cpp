#include "hyperalign/core/error.hpp"

#include <fmt/format.h>

namespace hyperalign {

std::string_view to_string(ErrorCode code) {
    switch (code) {
        case ErrorCode::invalid_input:
            return "invalid_input";
        case ErrorCode::not_found:
            return "not_found";
        case ErrorCode::context_overflow:
            return "context_overflow";
        case ErrorCode::rate_limited:
            return "rate_limited";
        case ErrorCode::backend_unavailable:
            return "backend_unavailable";
        case ErrorCode::backend_timeout:
            return "backend_timeout";
        case ErrorCode::bad_model_output:
            return "bad_model_output";
        case ErrorCode::cancelled:
            return "cancelled";
        case ErrorCode::budget_exceeded:
            return "budget_exceeded";
        case ErrorCode::internal:
            return "internal";
    }
    return "internal";
}

std::string Error::describe() const {
    std::string out;
    if (!file.empty()) {
        out += file;
        if (line > 0)
            out += fmt::format(":{}", line);
        out += ": ";
    }
    if (!field.empty())
        out += fmt::format("field '{}': ", field);
    out += message;
    return out;
}

Error make_error(ErrorCode code, std::string message) {
    Error e;
    e.code = code;
    e.message = std::move(message);
    return e;
}

}  // namespace hyperalign
