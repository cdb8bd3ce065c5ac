#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hyperalign/core/result.hpp"

namespace hyperalign::data {

// One row of a JSONL file: a JSON object and where it stands.
struct JsonlRow {
    nlohmann::json json;
    std::string file;
    int line = 0;  // 1-based, counting blank lines
};

// The rows of a JSONL data file, in file order. Blank lines are skipped and a line's trailing
// CR is dropped. Fails with not_found when the file cannot be opened, and with invalid_input
// naming the file and line for a line that is not UTF-8 (the message names the byte), not JSON,
// or not a JSON object. A file with no rows gives an empty list.
Result<std::vector<JsonlRow>> read_jsonl(const std::filesystem::path& path);

// The string at `key`: nullopt when absent or null; an invalid_input row_error for another type
// or, when `required`, for an absent, null or blank value. Where `integer_ok` (ids), an integer
// is read as its digits.
Result<std::optional<std::string>> string_field(const JsonlRow& row, const char* key, bool required,
                                                bool integer_ok = false);

// An invalid_input error for bad input at `file`:`line`, `field` (empty: the whole row).
Error row_error(const std::string& file, int line, std::string field, std::string message);
Error row_error(const JsonlRow& row, std::string field, std::string message);

}  // namespace hyperalign::data
