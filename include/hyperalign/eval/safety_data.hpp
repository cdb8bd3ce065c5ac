#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "hyperalign/core/result.hpp"

namespace hyperalign::eval {

// One request of a safety benchmark, as it is sent to the model.
struct SafetyPrompt {
    std::string id;
    std::string dataset;
    std::string prompt;    // the request as sent; a HarmBench context is already in front
    std::string label;     // "safe" or "unsafe"
    std::string category;  // the benchmark's category; empty when it has none (AdvBench)
    // XSTest's prompt type; HarmBench's functional category (standard, contextual, copyright);
    // SORRY-Bench's prompt style ("base" or a mutation); empty otherwise.
    std::string type;
    bool copyright = false;  // a HarmBench copyright behaviour
    std::string source_file;
    int source_line = 0;  // 1-based
};

struct SafetyLoadOptions {
    // HarmBench's copyright behaviours are scored upstream by a hash-based check of the reply
    // against the copyrighted text, which this project does not have; they are left out unless
    // asked for, and a report says which was done.
    bool include_copyright = false;
    std::filesystem::path data_dir;  // for dataset names; empty: data::default_data_dir()
};

// The dataset names load_safety_prompts knows, in a fixed order.
const std::vector<std::string>& safety_dataset_names();

// Loads the requests of a safety benchmark. `name_or_path` is, in this order of lookup:
//   - a dataset name: "xstest" (xstest/xstest_prompts.jsonl), "strongreject"
//     (strongreject/strongreject.jsonl), "advbench" (advbench/advbench_harmful_behaviors.jsonl),
//     "harmbench" (harmbench/harmbench_behaviors_text.jsonl), "jailbreakbench"
//     (jailbreakbench/jbb_harmful_behaviors.jsonl), under the data folder; or "sorry_bench":
//     SORRY-Bench's official question file, sorry_bench/question.jsonl (rows
//     {"question_id", "category", "turns": [request], "prompt_style"}). SORRY-Bench is gated
//     upstream and not shipped: without that file the call fails with not_found saying how to
//     provide it;
//   - an existing JSONL file: rows with `id` (string or integer) and `prompt` (non-blank
//     string), and optional `label` ("safe" or "unsafe"; absent: "unsafe", as in the harmful-
//     request sets), `category`, `type` (else `functional_category`), `context`, `dataset`
//     (strings or null). A row in SORRY-Bench's format (`question_id` and `turns`) is read as
//     the official file is.
// A row with a non-empty `context` is sent as context, a blank line, "---", a blank line and the
// request (HarmBench's own layout). Copyright rows (type "copyright") are dropped unless
// options.include_copyright.
// Errors: not_found for an unknown name (listing the known ones), a missing data folder or
// file; invalid_input naming file, 1-based line and field for malformed JSON, a missing or
// wrongly typed field, a label other than safe/unsafe, a duplicate id, or a file without rows.
// Never throws; requests never appear in error messages.
Result<std::vector<SafetyPrompt>> load_safety_prompts(const std::string& name_or_path,
                                                      const SafetyLoadOptions& options = {});

struct XstestSplit {
    std::vector<SafetyPrompt> train;  // specification learning
    std::vector<SafetyPrompt> eval;   // evaluation only
};

// A seeded half of each `type` for learning and the rest for evaluation: for a type of n rows,
// floor(n/2) go to train and ceil(n/2) to eval (an odd row out is evaluated). Which rows go
// where depends only on `seed` and the input order (own Fisher-Yates over mt19937_64, the same
// with every standard library); types are drawn in order of first appearance. Both halves keep
// the input order; together they hold every input row exactly once.
XstestSplit split_xstest(const std::vector<SafetyPrompt>& rows, uint64_t seed);

}  // namespace hyperalign::eval
