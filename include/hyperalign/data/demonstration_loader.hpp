#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hyperalign/core/demonstration.hpp"
#include "hyperalign/core/result.hpp"

namespace hyperalign::data {

struct LoadOptions {
    // Keep only rows whose `author` field equals this (datasets with several authors).
    std::optional<std::string> author;
    // Keep at most this many rows after filtering (0: all), in input order.
    size_t limit = 0;
};

// Loads demonstrations from `source`, which is, in this order of lookup,
//   - an existing JSONL file: one object per line. `text` is required (a non-empty string);
//     `prompt` is optional (string or null); `id` is optional (string, or integer written in
//     decimal), default "<file stem>:<line>". Every other field is kept in `metadata` as
//     (key, JSON text) in the row's key order. Blank lines are skipped; CRLF is accepted;
//   - an existing folder: every `*.txt` file (sorted by name) is one demonstration, the whole
//     file trimmed, id = file name, source_line 0;
//   - a dataset name under default_data_dir(): "ccat50" (ccat50/ccat50_val.jsonl, the CCAT50
//     split with prompts for all 50 authors), "cmcc" (cmcc/cmcc_train.jsonl), "custom"
//     (custom/custom_train.jsonl), or "<dataset>/<file stem>" such as
//     "ccat50/ccat50_train_raw". Errors and Demonstration::source_file then name the file.
// A row without a prompt (absent, null or blank), and every .txt file, gets "Write a text that
// starts with the following: " + text::first_sentence(text), marked prompt_derived.
// The author filter is applied before the limit.
//
// Errors (Error::file is the path as given, the resolved file for a dataset name, or
// "<folder>/<name>.txt"; line is 1-based, 0 for whole-file problems; field is "text",
// "prompt", "id" or "author", empty for whole-line problems):
//   - not_found: no such file, folder or dataset (the message lists the dataset names);
//   - invalid_input: invalid UTF-8 (byte column given), malformed JSON, a row that is not an
//     object, a missing, non-string or empty `text`, a wrongly typed `prompt` or `id`, a
//     duplicate id, no rows at all, a folder without .txt files or with an empty one, an author
//     filter on input without `author` fields, a non-string `author` while filtering, or no row
//     of the requested author (the message lists up to 10 known authors).
// The first problem found is reported; the whole input is checked before filtering. Never
// throws; texts never appear in error messages. Thread-safe while no thread changes the
// environment.
Result<std::vector<Demonstration>> load_demonstrations(const std::string& source,
                                                       const LoadOptions& options = {});

// The folder holding the shared datasets: $HYPERALIGN_DATA_DIR when set (not checked), else the
// first existing of ../shared/data and ../../shared/data relative to the working directory and
// <source tree>/../shared/data (when the library was built with HYPERALIGN_SOURCE_DIR), as an
// absolute path. nullopt when none exists.
std::optional<std::filesystem::path> default_data_dir();

}  // namespace hyperalign::data
