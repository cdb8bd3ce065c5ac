#pragma once

#include <string>
#include <string_view>

namespace hyperalign {

// What went wrong, in classes a caller can act on. The CLI maps each class to one exit code
// (core/exit_codes.hpp); a future server maps each to one HTTP status.
enum class ErrorCode {
    invalid_input,        // the user's data or arguments are wrong
    not_found,            // a file, model, profile or row does not exist
    context_overflow,     // a prompt does not fit the model's context
    rate_limited,         // the backend asked us to slow down
    backend_unavailable,  // the backend could not be reached or loaded
    backend_timeout,      // the backend did not answer in time
    bad_model_output,     // the model's reply could not be used (unparseable, off-schema)
    budget_exceeded,      // a run hit its cap on model calls or tokens
    cancelled,            // the caller asked the call to stop
    internal,             // a bug or an unexpected library failure
};

std::string_view to_string(ErrorCode code);

// One error type for the whole library: a code, a message a person can act on, and where the
// problem is (file, 1-based line, field path), when it concerns input data.
struct Error {
    ErrorCode code = ErrorCode::internal;
    std::string message;
    std::string file;
    int line = 0;
    std::string field;
    int upstream_status = 0;  // HTTP status or backend return code, 0 when none

    // "file:line: field 'x': message" with the parts that are set.
    std::string describe() const;
};

Error make_error(ErrorCode code, std::string message);

}  // namespace hyperalign
