#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "hyperalign/core/result.hpp"

namespace hyperalign {

// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

// Lower-case hex SHA-256 of a file's bytes. Large files (model weights) are hashed once: the
// result is remembered in the user's cache directory keyed by path, size and modification time.
Result<std::string> sha256_file(const std::filesystem::path& path);

// The user's cache directory for hyperalign: $HYPERALIGN_CACHE, else $XDG_CACHE_HOME/hyperalign,
// else ~/.cache/hyperalign. Not created here.
std::filesystem::path cache_dir();

}  // namespace hyperalign
