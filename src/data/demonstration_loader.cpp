#include "hyperalign/data/demonstration_loader.hpp"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "data/jsonl.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/prompts/library.hpp"

namespace hyperalign::data {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// A derived prompt quotes at most this much of the text, so that a text without sentence
// punctuation (chats, transcripts) does not end up inside its own prompt.
constexpr size_t kMaxDerivedSentenceBytes = 300;

constexpr size_t kMaxListedAuthors = 10;

// One loaded row plus what the author filter needs to know about it.
struct Row {
    Demonstration demo;
    bool has_author = false;            // the row has an `author` field
    std::optional<std::string> author;  // its value, when a string
};

Error not_found(const std::string& file, std::string message) {
    Error e = make_error(ErrorCode::not_found, std::move(message));
    e.file = file;
    return e;
}

Result<std::string> read_file(const fs::path& path, const std::string& shown) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return not_found(shown, "cannot open the file for reading");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

// The prompt DITTO made for CCAT50 ("... starts with <first sentence>"), worded for any genre
// in prompts/derived_prompt.user.txt.
Status derive_prompt(Demonstration& demo) {
    std::string sentence = text::first_sentence(demo.text);
    if (sentence.size() > kMaxDerivedSentenceBytes) {
        sentence = std::string(text::cut_at_boundary(sentence, kMaxDerivedSentenceBytes));
    }
    HA_ASSIGN_OR_RETURN(demo.prompt,
                        prompts::render("derived_prompt", "user", {{"first_sentence", sentence}}));
    while (!demo.prompt.empty() && demo.prompt.back() == '\n')
        demo.prompt.pop_back();
    demo.prompt_derived = true;
    return {};
}

// nlohmann's parse message without its exception tag, its position (we report the column
// ourselves) and the "last read" echo of the input, which can hold a person's text.
std::string json_reason(const nlohmann::json::parse_error& e) {
    std::string msg = e.what();
    const size_t position_end = msg.find(": ");
    if (position_end != std::string::npos)
        msg.erase(0, position_end + 2);

    const size_t echo = msg.find("; last read: '");
    if (echo != std::string::npos) {
        const size_t expected = msg.rfind("'; expected ");
        const size_t echo_end =
            expected != std::string::npos && expected > echo ? expected + 1 : msg.size();
        msg.erase(echo, echo_end - echo);
    }
    return msg;
}

// The `id` field as text: a string, or an integer written in decimal.
Result<std::string> read_id(const Json& value, const std::string& file, int line) {
    if (value.is_string()) {
        std::string id = value.get<std::string>();
        if (id.empty())
            return row_error(file, line, "id", "`id` is an empty string");
        return id;
    }
    if (value.is_number_integer())
        return value.dump();
    return row_error(
        file, line, "id",
        fmt::format("`id` must be a string or an integer, found {}", value.type_name()));
}

// Checks and converts one non-blank JSONL line.
Result<Row> parse_row(std::string_view raw, const std::string& file, const std::string& stem,
                      int line) {
    size_t bad = 0;
    if (!text::is_valid_utf8(raw, &bad)) {
        return row_error(
            file, line, "",
            fmt::format("invalid UTF-8 at byte column {}; save the file as UTF-8", bad + 1));
    }

    Json obj;
    try {
        obj = Json::parse(raw);
    } catch (const nlohmann::json::parse_error& e) {
        return row_error(file, line, "",
                         fmt::format("malformed JSON at column {}: {}", e.byte, json_reason(e)));
    }
    if (!obj.is_object()) {
        return row_error(file, line, "",
                         fmt::format("a row must be a JSON object, found {}", obj.type_name()));
    }

    Row row;
    Demonstration& demo = row.demo;
    demo.source_file = file;
    demo.source_line = line;

    const auto text_it = obj.find("text");
    if (text_it == obj.end()) {
        return row_error(file, line, "text", "missing required field `text`");
    }
    if (!text_it->is_string()) {
        return row_error(file, line, "text",
                         fmt::format("`text` must be a string, found {}", text_it->type_name()));
    }
    demo.text = text_it->get<std::string>();
    if (text::trim(demo.text).empty()) {
        return row_error(file, line, "text", "`text` is empty");
    }

    // A null or blank prompt counts as absent: the task is then derived from the text.
    const auto prompt_it = obj.find("prompt");
    if (prompt_it != obj.end() && !prompt_it->is_null() && !prompt_it->is_string()) {
        return row_error(
            file, line, "prompt",
            fmt::format("`prompt` must be a string or null, found {}", prompt_it->type_name()));
    }
    if (prompt_it != obj.end() && prompt_it->is_string())
        demo.prompt = prompt_it->get<std::string>();
    if (text::trim(demo.prompt).empty()) {
        HA_TRY(derive_prompt(demo));
    }

    const auto id_it = obj.find("id");
    if (id_it != obj.end() && !id_it->is_null()) {
        HA_ASSIGN_OR_RETURN(demo.id, read_id(*id_it, file, line));
    } else {
        demo.id = fmt::format("{}:{}", stem, line);
    }

    const auto author_it = obj.find("author");
    row.has_author = author_it != obj.end();
    if (row.has_author && author_it->is_string())
        row.author = author_it->get<std::string>();

    for (const auto& [key, value] : obj.items()) {
        if (key == "text" || key == "prompt" || key == "id")
            continue;
        demo.metadata.emplace_back(key, value.dump());
    }
    return row;
}

Result<std::vector<Row>> load_jsonl(const fs::path& path, const std::string& shown) {
    HA_ASSIGN_OR_RETURN(const std::string content, read_file(path, shown));
    const std::string stem = path.stem().string();

    std::vector<Row> rows;
    std::unordered_map<std::string, int> id_lines;
    int line = 0;
    for (size_t begin = 0; begin < content.size();) {
        size_t end = content.find('\n', begin);
        if (end == std::string::npos)
            end = content.size();
        std::string_view raw(content.data() + begin, end - begin);
        begin = end + 1;
        ++line;

        if (raw.ends_with('\r'))
            raw.remove_suffix(1);
        if (text::trim(raw).empty())
            continue;

        HA_ASSIGN_OR_RETURN(Row row, parse_row(raw, shown, stem, line));
        const auto [it, inserted] = id_lines.emplace(row.demo.id, line);
        if (!inserted) {
            return row_error(
                shown, line, "id",
                fmt::format("duplicate id '{}' (first used on line {})", row.demo.id, it->second));
        }
        rows.push_back(std::move(row));
    }

    if (rows.empty()) {
        return row_error(shown, 0, "",
                         "no demonstrations: the file is empty or has only blank lines");
    }
    return rows;
}

// Every `*.txt` file of the folder, sorted by name, is one demonstration.
Result<std::vector<Row>> load_folder(const fs::path& dir, const std::string& shown) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() == ".txt" && it->is_regular_file(ec))
            files.push_back(it->path());
    }
    if (ec)
        return not_found(shown, fmt::format("cannot list the folder: {}", ec.message()));
    if (files.empty()) {
        return row_error(shown, 0, "", "the folder has no .txt files (one text per file)");
    }
    std::sort(files.begin(), files.end());

    std::vector<Row> rows;
    for (const fs::path& file : files) {
        const std::string file_shown = (fs::path(shown) / file.filename()).string();
        HA_ASSIGN_OR_RETURN(std::string content, read_file(file, file_shown));

        size_t bad = 0;
        if (!text::is_valid_utf8(content, &bad)) {
            const size_t line_start = content.rfind('\n', bad) + 1;  // npos + 1 == 0
            const auto line = 1 + std::count(content.begin(), content.begin() + bad, '\n');
            return row_error(file_shown, static_cast<int>(line), "",
                             fmt::format("invalid UTF-8 at byte column {}; save the file as UTF-8",
                                         bad - line_start + 1));
        }

        Row row;
        row.demo.text = text::trim(content);
        if (row.demo.text.empty())
            return row_error(file_shown, 0, "text", "the file is empty");
        row.demo.id = file.filename().string();
        if (!text::is_valid_utf8(row.demo.id)) {
            return row_error(text::to_valid_utf8(file_shown), 0, "",
                             "the file name is not valid UTF-8; rename the file");
        }
        row.demo.source_file = file_shown;
        HA_TRY(derive_prompt(row.demo));
        rows.push_back(std::move(row));
    }
    return rows;
}

std::string list_authors(const std::vector<Row>& rows) {
    std::set<std::string> authors;
    for (const Row& row : rows) {
        if (row.author)
            authors.insert(*row.author);
    }
    std::vector<std::string> shown;
    for (const std::string& author : authors) {
        if (shown.size() == kMaxListedAuthors)
            break;
        shown.push_back(author);
    }
    std::string out = fmt::format("{}", fmt::join(shown, ", "));
    if (authors.size() > shown.size()) {
        out += fmt::format(", ... ({} authors in all)", authors.size());
    }
    return out;
}

// Applies the author filter and the limit, in input order.
Result<std::vector<Demonstration>> select_rows(std::vector<Row> rows, const LoadOptions& options,
                                               const std::string& shown) {
    if (options.author) {
        const bool any_author =
            std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.has_author; });
        if (!any_author) {
            return row_error(shown, 0, "author",
                             "the input has no `author` field, so rows cannot be selected by "
                             "author; drop the author option");
        }
        for (const Row& row : rows) {
            if (row.has_author && !row.author) {
                return row_error(row.demo.source_file, row.demo.source_line, "author",
                                 "`author` must be a string to select rows by author");
            }
        }
        const auto known = list_authors(rows);
        std::erase_if(rows, [&](const Row& r) { return r.author != options.author; });
        if (rows.empty()) {
            return row_error(
                shown, 0, "author",
                fmt::format("no row has author '{}'; known authors: {}", *options.author, known));
        }
    }

    std::vector<Demonstration> out;
    for (Row& row : rows) {
        if (options.limit != 0 && out.size() == options.limit)
            break;
        out.push_back(std::move(row.demo));
    }
    return out;
}

// The file a dataset name stands for, or nullopt when `name` is not of a dataset's form.
std::optional<fs::path> dataset_file(const std::string& name, const fs::path& data_dir) {
    if (name == "ccat50")
        return data_dir / "ccat50" / "ccat50_val.jsonl";
    if (name == "cmcc")
        return data_dir / "cmcc" / "cmcc_train.jsonl";
    if (name == "custom")
        return data_dir / "custom" / "custom_train.jsonl";

    const size_t slash = name.find('/');
    const bool two_parts = slash != std::string::npos && slash > 0 && slash + 1 < name.size() &&
                           name.find('/', slash + 1) == std::string::npos;
    if (!two_parts || name.find("..") != std::string::npos)
        return std::nullopt;
    return data_dir / (name.ends_with(".jsonl") ? name : name + ".jsonl");
}

struct Source {
    fs::path path;
    std::string shown;  // how errors and Demonstration::source_file name it
};

Result<Source> resolve(const std::string& source) {
    if (source.empty())
        return row_error("", 0, "", "no input given: pass a file, folder or dataset name");

    std::error_code ec;
    if (fs::exists(source, ec))
        return Source{source, source};

    constexpr std::string_view kNames =
        "dataset names are ccat50, cmcc, custom, or <dataset>/<file stem> such as "
        "ccat50/ccat50_train_raw";
    const std::optional<fs::path> data_dir = default_data_dir();
    if (!data_dir) {
        return not_found(source, fmt::format("no such file or folder, and no data folder to look "
                                             "up a dataset name in (set HYPERALIGN_DATA_DIR); {}",
                                             kNames));
    }
    const std::optional<fs::path> file = dataset_file(source, *data_dir);
    if (!file || !fs::exists(*file, ec)) {
        return not_found(source, fmt::format("no such file, folder or dataset under {}; {}",
                                             data_dir->string(), kNames));
    }
    return Source{*file, file->string()};
}

Result<std::vector<Demonstration>> load(const std::string& source, const LoadOptions& options) {
    HA_ASSIGN_OR_RETURN(const Source resolved, resolve(source));

    std::error_code ec;
    const bool is_dir = fs::is_directory(resolved.path, ec);
    HA_ASSIGN_OR_RETURN(std::vector<Row> rows, is_dir ? load_folder(resolved.path, resolved.shown)
                                                      : load_jsonl(resolved.path, resolved.shown));
    return select_rows(std::move(rows), options, resolved.shown);
}

}  // namespace

Result<std::vector<Demonstration>> load_demonstrations(const std::string& source,
                                                       const LoadOptions& options) {
    // The steps report expected failures as values; this catches what a library may still
    // throw (allocation, filesystem) so that no exception leaves the loader.
    try {
        return load(source, options);
    } catch (const std::exception& e) {
        Error error = make_error(ErrorCode::internal,
                                 fmt::format("unexpected failure while loading: {}", e.what()));
        error.file = source;
        return error;
    }
}

std::optional<fs::path> default_data_dir() {
    try {
        const char* env = std::getenv("HYPERALIGN_DATA_DIR");
        if (env != nullptr && *env != '\0')
            return fs::path(env);

        std::vector<fs::path> candidates = {"../shared/data", "../../shared/data"};
#ifdef HYPERALIGN_SOURCE_DIR
        candidates.emplace_back(fs::path(HYPERALIGN_SOURCE_DIR) / ".." / "shared" / "data");
#endif
        for (const fs::path& candidate : candidates) {
            std::error_code ec;
            if (!fs::is_directory(candidate, ec))
                continue;
            const fs::path absolute = fs::absolute(candidate, ec);
            return ec ? candidate : absolute.lexically_normal();
        }
    } catch (const std::exception&) {
        // Only allocation can fail here; no data folder is the safe answer.
    }
    return std::nullopt;
}

}  // namespace hyperalign::data
