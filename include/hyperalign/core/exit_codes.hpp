#pragma once

#include "hyperalign/core/error.hpp"

namespace hyperalign {

// The one mapping from error classes to process exit codes (listed in README.md).
// 0 is success; 2 is a command-line usage error (reported by the argument parser).
constexpr int kExitUsage = 2;

constexpr int exit_code(ErrorCode code) {
    switch (code) {
        case ErrorCode::invalid_input:
            return 3;
        case ErrorCode::not_found:
            return 4;
        case ErrorCode::context_overflow:
            return 5;
        case ErrorCode::backend_unavailable:
            return 6;
        case ErrorCode::backend_timeout:
            return 7;
        case ErrorCode::rate_limited:
            return 8;
        case ErrorCode::bad_model_output:
            return 9;
        case ErrorCode::cancelled:
            return 11;
        case ErrorCode::budget_exceeded:
            return 10;
        case ErrorCode::internal:
            return 1;
    }
    return 1;
}

}  // namespace hyperalign
