#pragma once

#include <string>

#include "hyperalign/core/result.hpp"

namespace hyperalign::cli {

// A whole file as bytes; not_found naming the file when it cannot be opened.
Result<std::string> read_file(const std::string& path);

// Writes (replacing) a file; invalid_input naming the file when that fails.
Status write_file(const std::string& path, const std::string& content);

}  // namespace hyperalign::cli
