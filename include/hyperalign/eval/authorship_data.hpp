#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hyperalign/core/demonstration.hpp"
#include "hyperalign/core/result.hpp"

namespace hyperalign::eval {

// One task of an authorship benchmark: write `prompt` as `author`.
struct AuthorshipTask {
    std::string id;
    std::string author;
    std::string prompt;
    std::optional<std::string> gold;  // the author's own text; CUSTOM's test row has none
    std::string source_file;
    int source_line = 0;
};

// How well the first-sentence rule rebuilds the prompts DITTO made (CCAT50 only).
struct PromptCheck {
    size_t rows = 0;
    size_t reproduced = 0;  // prompts equal to DITTO's, whitespace runs collapsed
    std::vector<std::string> differing_ids;
};

struct AuthorshipDataset {
    std::string name;                  // "ccat50", "cmcc", "custom", or the file's stem
    std::vector<std::string> authors;  // authors with tasks, in order of first appearance
    // Every training text of every author (also those without tasks, for the stylometric
    // judge), in input order.
    std::map<std::string, std::vector<Demonstration>> train;
    std::vector<AuthorshipTask> tasks;
    std::optional<PromptCheck> prompt_check;
    std::string train_note;  // how the training split was made, for the report
};

struct AuthorshipLoadOptions {
    std::vector<std::string> authors;  // keep only these authors' tasks (empty: all)
    std::string split = "test";        // the tasks: "test" or "val"
    size_t tasks_per_author = 0;       // at most this many tasks per author (0: all)
    std::filesystem::path data_dir;    // for dataset names; empty: data::default_data_dir()
};

// Loads an authorship benchmark:
//   - "ccat50": tasks from ccat50/ccat50_<split>.jsonl; training texts from
//     ccat50_train_raw.jsonl without the articles DITTO's validation split holds (its train
//     split is not published), each with the prompt ccat50_prompt() makes;
//   - "cmcc", "custom": <name>/<name>_train.jsonl and <name>/<name>_<split>.jsonl;
//   - a JSONL file whose rows carry `split` ("train", or the task split), `author`, `prompt`
//     (required for tasks; derived from the first sentence for training rows without one),
//     `text` (required for training rows; optional for tasks) and an optional `id`.
// Fails with not_found for an unknown dataset, file or author (naming a few known ones), and
// with invalid_input naming file, line and field for a malformed row, a duplicate id, no tasks,
// or an author with tasks but fewer than two training texts.
Result<AuthorshipDataset> load_authorship_dataset(const std::string& name_or_file,
                                                  const AuthorshipLoadOptions& options = {});

// DITTO's CCAT50 task for an article: the template prompts/ccat50_prompt.user.txt around the
// article's first sentence (text::first_sentence).
Result<std::string> ccat50_prompt(std::string_view article);

}  // namespace hyperalign::eval
