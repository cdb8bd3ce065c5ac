#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hyperalign/eval/authorship_data.hpp"
#include "hyperalign/eval/pairwise_judge.hpp"
#include "hyperalign/eval/report.hpp"
#include "hyperalign/generate/generator.hpp"
#include "hyperalign/learn/profile_builder.hpp"
#include "hyperalign/learn/progress.hpp"
#include "hyperalign/llm/client.hpp"

namespace hyperalign::eval {

// The authorship experiment (HyPerAlign's first): learn a profile per author from a few of
// their texts, write each task with every method, and judge each method against a baseline.
struct AuthorshipConfig {
    std::vector<std::string> datasets;  // names or JSONL files (load_authorship_dataset)
    AuthorshipLoadOptions load;
    // Method names: zero_shot, few_shot, attributes, hypotheses, hyperalign, or external:FILE
    // (a JSONL of {"id": task id, "text": generation}; "output" is read too).
    std::vector<std::string> methods;
    // One of `methods`; empty: the external method when exactly one is given (DITTO's
    // generations, say), else few_shot.
    std::string baseline;
    bool all_pairs = false;  // judge every pair of methods, not just vs the baseline
    size_t demos = 7;        // training texts per author the methods see (first N)
    uint32_t seed = 42;
    learn::ProfileOptions profile;         // person, seed and contrast pool are set per author
    generate::GenerateOptions generation;  // method and seed are set per call
    JudgeOptions judge;
    bool stylometry = true;
    int bootstrap_resamples = 2000;
    int workers = 1;            // calls in flight at once over HTTP (in-process runs use one)
    std::filesystem::path out;  // records, profiles and generations go here
};

// What a stage of the run spent, across both models.
struct StageSpend {
    std::string stage;
    llm::CallStats stats;
    double wall_ms = 0;
};

struct AuthorshipOutcome {
    nlohmann::ordered_json results;  // everything the report shows, machine-readable
    Report report;
    std::vector<StageSpend> spend;
};

// Runs the experiment, resuming from the records in config.out: a finished profile,
// generation or verdict is never recomputed. `generator` writes and learns, `judge` judges
// (they may be the same client). Fails on invalid configuration before any model call; stops
// at the first budget, backend or cancellation error, keeping everything finished so far.
Result<AuthorshipOutcome> run_authorship(llm::Client& generator, llm::Client& judge,
                                         const AuthorshipConfig& config,
                                         const learn::Progress& progress = {});

// Checks the configuration, datasets and external generations without a model, so that a
// mistake is reported before a model is loaded. run_authorship checks the same.
Status check_authorship(const AuthorshipConfig& config);

// Generations from another system: task id -> text. Rows need `id` and `text` (or `output`);
// the first row of an id is used. Errors name the file, line and field.
Result<std::map<std::string, std::string>> load_external_generations(const std::string& path);

}  // namespace hyperalign::eval
