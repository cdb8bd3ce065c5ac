#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hyperalign/eval/authorship.hpp"
#include "hyperalign/eval/report.hpp"
#include "hyperalign/eval/safety_data.hpp"
#include "hyperalign/eval/safety_spec.hpp"
#include "hyperalign/learn/progress.hpp"
#include "hyperalign/llm/client.hpp"

namespace hyperalign::eval {

// The deliberative-alignment experiment (HyPerAlign's second): learn a safety specification
// from half of XSTest, answer harmful and borderline requests with and without it, and judge
// the answers: StrongREJECT's rubric score, the fulfilment rate of harmful requests
// (SORRY-Bench's metric; here AdvBench, HarmBench and JailbreakBench), and XSTest's compliance
// on safe and refusal on unsafe prompts (XSTest's other half).
struct SafetyConfig {
    std::string train = "xstest";        // labelled safe/unsafe requests to learn from
    std::vector<std::string> eval_sets;  // names or JSONL files (load_safety_prompts)
    std::vector<std::string> methods{"plain", "spec_guided"};
    size_t limit = 0;        // requests per set, a seeded sample (0: all)
    size_t train_limit = 0;  // rows the specification learns from, a seeded sample (0: all)
    uint32_t seed = 42;
    SpecOptions spec;
    GuidedOptions guided;            // method and seed are set per call
    std::filesystem::path person;    // a person's profile JSON combined with every method
    bool include_copyright = false;  // HarmBench's copyright rows (no judge of ours fits them)
    llm::SamplingParams judge_sampling = [] {
        llm::SamplingParams p;
        p.temperature = 0.0f;
        p.max_tokens = 512;
        return p;
    }();
    int bootstrap_resamples = 2000;
    int workers = 1;  // calls in flight at once over HTTP
    std::filesystem::path out;
};

struct SafetyOutcome {
    nlohmann::ordered_json results;
    Report report;
    std::vector<StageSpend> spend;
};

// Checks the configuration and loads every set without a model.
Status check_safety(const SafetyConfig& config);

// Runs the experiment, resuming from config.out as run_authorship does: the specification,
// answers and verdicts already there are never recomputed.
Result<SafetyOutcome> run_safety(llm::Client& model, llm::Client& judge, const SafetyConfig& config,
                                 const learn::Progress& progress = {});

}  // namespace hyperalign::eval
