#include "hyperalign/eval/safety_data.hpp"

#include <map>
#include <optional>
#include <random>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "data/jsonl.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/data/demonstration_loader.hpp"
#include "hyperalign/learn/rows.hpp"

namespace hyperalign::eval {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// HarmBench puts a behaviour's context in front of the request with this separator.
constexpr const char* kContextSeparator = "\n\n---\n\n";

struct DatasetFile {
    const char* name;
    const char* file;  // under the data folder
};

const DatasetFile kDatasets[] = {
    {"xstest", "xstest/xstest_prompts.jsonl"},
    {"strongreject", "strongreject/strongreject.jsonl"},
    {"advbench", "advbench/advbench_harmful_behaviors.jsonl"},
    {"harmbench", "harmbench/harmbench_behaviors_text.jsonl"},
    {"jailbreakbench", "jailbreakbench/jbb_harmful_behaviors.jsonl"},
    {"sorry_bench", "sorry_bench/question.jsonl"},
};

using data::JsonlRow;
using data::row_error;
using data::string_field;

// The rows of a safety set; a set without rows is an error.
Result<std::vector<JsonlRow>> read_rows(const fs::path& path) {
    HA_ASSIGN_OR_RETURN(std::vector<JsonlRow> rows, data::read_jsonl(path));
    if (rows.empty()) {
        Error e = make_error(ErrorCode::invalid_input, "the file has no rows");
        e.file = path.string();
        return e;
    }
    return rows;
}

// A row of SORRY-Bench's official question file: the request is the first of `turns`.
Result<SafetyPrompt> sorry_bench_row(const JsonlRow& row) {
    SafetyPrompt p;
    HA_ASSIGN_OR_RETURN(auto id, string_field(row, "question_id", true, true));
    HA_ASSIGN_OR_RETURN(auto category, string_field(row, "category", false, true));
    HA_ASSIGN_OR_RETURN(auto style, string_field(row, "prompt_style", false));
    const Json& turns = *row.json.find("turns");  // the caller checked it is there
    if (!turns.is_array() || turns.empty() || !turns[0].is_string() ||
        text::trim(turns[0].get<std::string>()).empty()) {
        return row_error(row, "turns", "must be a list whose first entry is the request");
    }
    p.id = "sorry_bench:" + *id;
    p.dataset = "sorry_bench";
    p.prompt = turns[0].get<std::string>();
    p.label = "unsafe";
    p.category = category.value_or("");
    p.type = style.value_or("base");
    return p;
}

// A row of the shared safety sets or of a user's file.
Result<SafetyPrompt> prompt_row(const JsonlRow& row, const std::string& default_dataset) {
    if (!row.json.contains("prompt") && row.json.contains("turns") &&
        row.json.contains("question_id")) {
        return sorry_bench_row(row);
    }
    SafetyPrompt p;
    HA_ASSIGN_OR_RETURN(auto id, string_field(row, "id", true, true));
    HA_ASSIGN_OR_RETURN(auto prompt, string_field(row, "prompt", true));
    HA_ASSIGN_OR_RETURN(auto label, string_field(row, "label", false));
    HA_ASSIGN_OR_RETURN(auto category, string_field(row, "category", false));
    HA_ASSIGN_OR_RETURN(auto type, string_field(row, "type", false));
    HA_ASSIGN_OR_RETURN(auto functional, string_field(row, "functional_category", false));
    HA_ASSIGN_OR_RETURN(auto context, string_field(row, "context", false));
    HA_ASSIGN_OR_RETURN(auto dataset, string_field(row, "dataset", false));
    if (label && *label != "safe" && *label != "unsafe")
        return row_error(row, "label", "must be \"safe\" or \"unsafe\"");

    p.id = *id;
    p.dataset = dataset.value_or(default_dataset);
    p.prompt = context ? *context + kContextSeparator + *prompt : *prompt;
    p.label = label.value_or("unsafe");
    p.category = category.value_or("");
    p.type = type ? *type : functional.value_or("");
    p.copyright = p.type == "copyright";
    return p;
}

Result<fs::path> data_folder(const SafetyLoadOptions& options, const std::string& name) {
    if (!options.data_dir.empty())
        return options.data_dir;
    auto found = data::default_data_dir();
    if (!found) {
        return make_error(
            ErrorCode::not_found,
            fmt::format("no data folder to find '{}' in (set HYPERALIGN_DATA_DIR)", name));
    }
    return *found;
}

Error sorry_bench_missing(const fs::path& file) {
    Error e = make_error(
        ErrorCode::not_found,
        "SORRY-Bench's prompts are gated upstream and not shipped with the data. Accept the "
        "authors' terms for the Hugging Face dataset sorry-bench/sorry-bench-202406 (or -202503), "
        "download its question.jsonl and put it at this path, or pass the path of any "
        "question*.jsonl file instead of 'sorry_bench'");
    e.file = file.string();
    return e;
}

std::string known_names() {
    std::string out;
    for (const auto& name : safety_dataset_names())
        out += (out.empty() ? "" : ", ") + name;
    return out;
}

}  // namespace

const std::vector<std::string>& safety_dataset_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out;
        for (const auto& d : kDatasets)
            out.push_back(d.name);
        return out;
    }();
    return names;
}

Result<std::vector<SafetyPrompt>> load_safety_prompts(const std::string& name_or_path,
                                                      const SafetyLoadOptions& options) {
    const DatasetFile* named = nullptr;
    for (const auto& d : kDatasets) {
        if (name_or_path == d.name)
            named = &d;
    }
    fs::path file = name_or_path;
    std::string dataset = fs::path(name_or_path).stem().string();
    if (named != nullptr) {
        HA_ASSIGN_OR_RETURN(fs::path data, data_folder(options, name_or_path));
        file = data / named->file;
        dataset = named->name;
        if (dataset == "sorry_bench" && !fs::is_regular_file(file))
            return sorry_bench_missing(file);
    } else if (!fs::is_regular_file(file)) {
        return make_error(ErrorCode::not_found,
                          fmt::format("'{}' is neither a safety dataset ({}) nor a JSONL file",
                                      name_or_path, known_names()));
    }

    HA_ASSIGN_OR_RETURN(std::vector<JsonlRow> rows, read_rows(file));
    std::vector<SafetyPrompt> out;
    std::set<std::string> ids;
    for (const JsonlRow& row : rows) {
        HA_ASSIGN_OR_RETURN(SafetyPrompt p, prompt_row(row, dataset));
        if (!ids.insert(p.id).second)
            return row_error(row, "id", fmt::format("duplicate id '{}'", p.id));
        if (p.copyright && !options.include_copyright)
            continue;
        p.source_file = row.file;
        p.source_line = row.line;
        out.push_back(std::move(p));
    }
    return out;
}

XstestSplit split_xstest(const std::vector<SafetyPrompt>& rows, uint64_t seed) {
    // Row indices per type, types in order of first appearance.
    std::vector<std::string> types;
    std::map<std::string, std::vector<size_t>> members;
    for (size_t i = 0; i < rows.size(); ++i) {
        auto& m = members[rows[i].type];
        if (m.empty())
            types.push_back(rows[i].type);
        m.push_back(i);
    }

    // Shuffle each type's rows and send the first floor(n/2) of them to train.
    std::mt19937_64 rng(seed);
    std::vector<bool> to_train(rows.size(), false);
    for (const auto& type : types) {
        std::vector<size_t> order = members[type];
        learn::seeded_shuffle(order, rng);
        for (size_t k = 0; k < order.size() / 2; ++k)
            to_train[order[k]] = true;
    }

    XstestSplit split;
    for (size_t i = 0; i < rows.size(); ++i)
        (to_train[i] ? split.train : split.eval).push_back(rows[i]);
    return split;
}

}  // namespace hyperalign::eval
