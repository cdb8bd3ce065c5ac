#include "hyperalign/eval/authorship_data.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "data/jsonl.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/data/demonstration_loader.hpp"
#include "hyperalign/prompts/library.hpp"

namespace hyperalign::eval {
namespace {

namespace fs = std::filesystem;
using data::JsonlRow;
using data::read_jsonl;
using data::row_error;
using data::string_field;

std::string collapse_whitespace(std::string_view s) {
    std::string out;
    bool space = false;
    for (char c : s) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            space = !out.empty();
            continue;
        }
        if (space)
            out += ' ';
        space = false;
        out += c;
    }
    return out;
}

// Tasks from rows of the task split; ids must be unique across the whole dataset.
Result<AuthorshipTask> task_from(const JsonlRow& row, std::set<std::string>& ids) {
    AuthorshipTask t;
    HA_ASSIGN_OR_RETURN(auto author, string_field(row, "author", true));
    HA_ASSIGN_OR_RETURN(auto prompt, string_field(row, "prompt", true));
    HA_ASSIGN_OR_RETURN(auto gold, string_field(row, "text", false));
    HA_ASSIGN_OR_RETURN(auto id, string_field(row, "id", false, true));
    t.author = *author;
    t.prompt = *prompt;
    t.gold = gold;
    t.id = id ? *id : fmt::format("{}:{}", fs::path(row.file).stem().string(), row.line);
    t.source_file = row.file;
    t.source_line = row.line;
    if (!ids.insert(t.id).second)
        return row_error(row, "id", fmt::format("duplicate id '{}'", t.id));
    return t;
}

// A training text; rows without a prompt get `derive`'s.
using Derive = Result<std::string> (*)(std::string_view);

// The user part of `template_id` for a text starting with `text`'s first sentence.
Result<std::string> first_sentence_prompt(const char* template_id, std::string_view text) {
    HA_ASSIGN_OR_RETURN(
        std::string p,
        prompts::render(template_id, "user", {{"first_sentence", text::first_sentence(text)}}));
    while (!p.empty() && p.back() == '\n')
        p.pop_back();
    return p;
}

Result<std::string> derived_prompt(std::string_view text) {
    return first_sentence_prompt("derived_prompt", text);
}

Result<std::pair<std::string, Demonstration>> train_from(const JsonlRow& row,
                                                         std::set<std::string>& ids,
                                                         Derive derive) {
    HA_ASSIGN_OR_RETURN(auto author, string_field(row, "author", true));
    HA_ASSIGN_OR_RETURN(auto text, string_field(row, "text", true));
    HA_ASSIGN_OR_RETURN(auto prompt, string_field(row, "prompt", false));
    HA_ASSIGN_OR_RETURN(auto id, string_field(row, "id", false, true));
    Demonstration d;
    d.id = id ? *id : fmt::format("{}:{}", fs::path(row.file).stem().string(), row.line);
    d.text = *text;
    d.source_file = row.file;
    d.source_line = row.line;
    if (prompt) {
        d.prompt = *prompt;
    } else {
        HA_ASSIGN_OR_RETURN(d.prompt, derive(d.text));
        d.prompt_derived = true;
    }
    if (!ids.insert(d.id).second)
        return row_error(row, "id", fmt::format("duplicate id '{}'", d.id));
    return std::pair{*author, std::move(d)};
}

std::string some_names(const std::vector<std::string>& names) {
    std::string out;
    for (size_t i = 0; i < names.size() && i < 10; ++i)
        out += (i ? ", " : "") + names[i];
    if (names.size() > 10)
        out += fmt::format(" and {} more", names.size() - 10);
    return out;
}

// Keeps the chosen authors' tasks (all when none are named) and checks every author with tasks
// can be learned.
Status finish(AuthorshipDataset& d, const AuthorshipLoadOptions& o, const std::string& source) {
    std::vector<std::string> known;
    for (const auto& t : d.tasks) {
        if (std::find(known.begin(), known.end(), t.author) == known.end())
            known.push_back(t.author);
    }
    if (known.empty()) {
        Error e = make_error(ErrorCode::invalid_input,
                             fmt::format("no '{}' rows: nothing to evaluate", o.split));
        e.file = source;
        return e;
    }
    for (const auto& a : o.authors) {
        if (std::find(known.begin(), known.end(), a) == known.end()) {
            Error e =
                make_error(ErrorCode::not_found,
                           fmt::format("no '{}' tasks for author '{}'; authors with tasks: {}",
                                       o.split, a, some_names(known)));
            e.file = source;
            return e;
        }
    }
    const std::vector<std::string>& keep = o.authors.empty() ? known : o.authors;
    std::vector<AuthorshipTask> tasks;
    std::map<std::string, size_t> per_author;
    for (auto& t : d.tasks) {
        if (std::find(keep.begin(), keep.end(), t.author) == keep.end())
            continue;
        if (o.tasks_per_author && per_author[t.author] >= o.tasks_per_author)
            continue;
        ++per_author[t.author];
        tasks.push_back(std::move(t));
    }
    d.tasks = std::move(tasks);
    d.authors.clear();
    for (const auto& a : known) {
        if (std::find(keep.begin(), keep.end(), a) != keep.end())
            d.authors.push_back(a);
    }
    for (const auto& a : d.authors) {
        if (d.train[a].size() < 2) {
            Error e = make_error(ErrorCode::invalid_input,
                                 fmt::format("author '{}' has {} training texts; at least 2 are "
                                             "needed to learn a profile",
                                             a, d.train[a].size()));
            e.file = source;
            return e;
        }
    }
    return {};
}

Result<AuthorshipDataset> load_ccat50(const fs::path& dir, const AuthorshipLoadOptions& o) {
    AuthorshipDataset d;
    d.name = "ccat50";
    std::set<std::string> ids;
    HA_ASSIGN_OR_RETURN(auto task_rows, read_jsonl(dir / fmt::format("ccat50_{}.jsonl", o.split)));
    for (const auto& row : task_rows) {
        HA_ASSIGN_OR_RETURN(auto t, task_from(row, ids));
        d.tasks.push_back(std::move(t));
    }
    HA_ASSIGN_OR_RETURN(auto raw, read_jsonl(dir / "ccat50_train_raw.jsonl"));
    size_t excluded = 0;
    PromptCheck check;
    for (const auto& row : raw) {
        HA_ASSIGN_OR_RETURN(auto split, string_field(row, "in_processed_split", false));
        if (split && *split == "val") {
            ++excluded;
            continue;
        }
        HA_ASSIGN_OR_RETURN(auto entry, train_from(row, ids, &ccat50_prompt));
        d.train[entry.first].push_back(std::move(entry.second));
    }
    // The rule against the prompts DITTO made, on both processed splits.
    for (const char* split : {"val", "test"}) {
        HA_ASSIGN_OR_RETURN(auto rows, read_jsonl(dir / fmt::format("ccat50_{}.jsonl", split)));
        for (const auto& row : rows) {
            HA_ASSIGN_OR_RETURN(auto prompt, string_field(row, "prompt", true));
            HA_ASSIGN_OR_RETURN(auto text, string_field(row, "text", true));
            HA_ASSIGN_OR_RETURN(auto id, string_field(row, "id", true, true));
            HA_ASSIGN_OR_RETURN(std::string rebuilt, ccat50_prompt(*text));
            ++check.rows;
            if (collapse_whitespace(rebuilt) == collapse_whitespace(*prompt))
                ++check.reproduced;
            else
                check.differing_ids.push_back(*id);
        }
    }
    d.prompt_check = check;
    d.train_note = fmt::format(
        "CCAT50's training split is not published: training texts are the raw C50train articles "
        "({} rows) without the {} DITTO put in its validation split, each with DITTO's task "
        "rebuilt from its first sentence; the rule reproduces {} of DITTO's {} prompts",
        raw.size(), excluded, check.reproduced, check.rows);
    return d;
}

// cmcc, custom and user files: rows of one or two files, told apart by `split`.
Status add_rows(AuthorshipDataset& d, const std::vector<JsonlRow>& rows,
                const std::string& task_split, bool tasks_only_by_split,
                std::set<std::string>& ids) {
    for (const auto& row : rows) {
        HA_ASSIGN_OR_RETURN(auto split, string_field(row, "split", tasks_only_by_split));
        if (split && *split != "train" && *split != "val" && *split != "test")
            return row_error(row, "split", fmt::format("'{}' is not train, val or test", *split));
        if (split && *split == task_split) {
            HA_ASSIGN_OR_RETURN(auto t, task_from(row, ids));
            d.tasks.push_back(std::move(t));
        } else if (!split || *split == "train") {
            HA_ASSIGN_OR_RETURN(auto entry, train_from(row, ids, &derived_prompt));
            d.train[entry.first].push_back(std::move(entry.second));
        }
    }
    return {};
}

}  // namespace

Result<std::string> ccat50_prompt(std::string_view article) {
    return first_sentence_prompt("ccat50_prompt", article);
}

Result<AuthorshipDataset> load_authorship_dataset(const std::string& name_or_file,
                                                  const AuthorshipLoadOptions& options) {
    if (options.split.empty() || options.split == "train") {
        return make_error(ErrorCode::invalid_input,
                          "the task split must be 'test' or 'val', not 'train'");
    }
    AuthorshipDataset d;
    std::string source = name_or_file;
    const bool named =
        name_or_file == "ccat50" || name_or_file == "cmcc" || name_or_file == "custom";
    if (named) {
        fs::path data = options.data_dir;
        if (data.empty()) {
            auto found = data::default_data_dir();
            if (!found) {
                return make_error(ErrorCode::not_found,
                                  fmt::format("no data folder to find '{}' in (set "
                                              "HYPERALIGN_DATA_DIR)",
                                              name_or_file));
            }
            data = *found;
        }
        const fs::path dir = data / name_or_file;
        source = (dir / fmt::format("{}_{}.jsonl", name_or_file, options.split)).string();
        if (name_or_file == "ccat50") {
            HA_ASSIGN_OR_RETURN(d, load_ccat50(dir, options));
        } else {
            d.name = name_or_file;
            std::set<std::string> ids;
            HA_ASSIGN_OR_RETURN(auto train, read_jsonl(dir / (name_or_file + "_train.jsonl")));
            HA_ASSIGN_OR_RETURN(auto tasks, read_jsonl(source));
            HA_TRY(add_rows(d, train, options.split, true, ids));
            HA_TRY(add_rows(d, tasks, options.split, true, ids));
            d.train_note = fmt::format("Training texts: {}_train.jsonl", name_or_file);
        }
    } else {
        if (!fs::is_regular_file(name_or_file)) {
            return make_error(ErrorCode::not_found,
                              fmt::format("'{}' is neither a dataset (ccat50, cmcc, custom) nor a "
                                          "JSONL file",
                                          name_or_file));
        }
        d.name = fs::path(name_or_file).stem().string();
        std::set<std::string> ids;
        HA_ASSIGN_OR_RETURN(auto rows, read_jsonl(name_or_file));
        HA_TRY(add_rows(d, rows, options.split, true, ids));
        d.train_note = fmt::format("Training texts: the rows of {} with split 'train'",
                                   fs::path(name_or_file).filename().string());
    }
    HA_TRY(finish(d, options, source));
    return d;
}

}  // namespace hyperalign::eval
