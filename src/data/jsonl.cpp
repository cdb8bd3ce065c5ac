#include "data/jsonl.hpp"

#include <fstream>

#include <fmt/format.h>

#include "hyperalign/core/text.hpp"

namespace hyperalign::data {

Error row_error(const std::string& file, int line, std::string field, std::string message) {
    Error e = make_error(ErrorCode::invalid_input, std::move(message));
    e.file = file;
    e.line = line;
    e.field = std::move(field);
    return e;
}

Error row_error(const JsonlRow& row, std::string field, std::string message) {
    return row_error(row.file, row.line, std::move(field), std::move(message));
}

Result<std::optional<std::string>> string_field(const JsonlRow& row, const char* key, bool required,
                                                bool integer_ok) {
    auto it = row.json.find(key);
    const bool blank =
        it != row.json.end() && it->is_string() && text::trim(it->get<std::string>()).empty();
    if (it == row.json.end() || it->is_null() || blank) {
        if (required)
            return row_error(row, key, "missing or empty");
        return std::optional<std::string>();
    }
    if (integer_ok && it->is_number_integer())
        return std::optional<std::string>(std::to_string(it->get<int64_t>()));
    if (!it->is_string())
        return row_error(row, key,
                         integer_ok ? "must be a string or an integer" : "must be a string");
    return std::optional<std::string>(it->get<std::string>());
}

Result<std::vector<JsonlRow>> read_jsonl(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        Error e = make_error(ErrorCode::not_found, "cannot open the file for reading");
        e.file = path.string();
        return e;
    }
    const std::string file = path.string();
    std::vector<JsonlRow> rows;
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (text::trim(line).empty())
            continue;

        size_t bad = 0;
        if (!text::is_valid_utf8(line, &bad))
            return row_error(file, n, "", fmt::format("invalid UTF-8 at byte {}", bad + 1));
        nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
        if (json.is_discarded())
            return row_error(file, n, "", "malformed JSON");
        if (!json.is_object())
            return row_error(file, n, "", "a row must be a JSON object");
        rows.push_back({std::move(json), file, n});
    }
    return rows;
}

}  // namespace hyperalign::data
