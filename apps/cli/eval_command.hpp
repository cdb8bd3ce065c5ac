#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace hyperalign::cli {

// `hyperalign eval authorship|safety`: the paper's two experiments, resumable, with a report.
struct EvalArgs {
    ModelArgs shared;  // engine options both models take (--ctx, --threads, --no-cache, ...)
    std::string generator;
    std::string generator_url;
    std::string judge;
    std::string judge_url;
    std::string out;
    uint32_t seed = 42;
    CommonArgs common;

    // authorship
    std::vector<std::string> datasets;
    std::vector<std::string> methods{"zero_shot", "few_shot", "hyperalign"};
    std::string baseline;  // empty: the one external method, else few_shot
    bool all_pairs = false;
    std::vector<std::string> authors;
    size_t demos = 7;
    size_t tasks_per_author = 0;
    std::string split = "test";
    std::string contrast = "others";
    int top = 5;
    int max_tokens = 512;
    int judge_max_tokens = 64;
    int max_references = 5;
    bool with_gold = false;
    bool no_stylometry = false;
    int bootstrap = 2000;
    int num_init = 0;
    int max_hypotheses = 20;
    int max_tokens_attributes = 2048;
    int max_tokens_generate = 1024;

    // safety
    std::string train = "xstest";
    std::vector<std::string> eval_sets{"strongreject", "advbench", "harmbench", "jailbreakbench",
                                       "xstest"};
    std::vector<std::string> safety_methods{"plain", "spec_guided"};
    size_t limit = 0;
    size_t train_limit = 0;
    std::string person;
    bool include_copyright = false;
    int spec_top = 10;
    int max_tokens_reasoning = 512;
    int safety_judge_max_tokens = 512;  // the rubric's reasoning lines need room
};

// Adds `eval` with its `authorship` and `safety` subcommands; returns `eval`.
CLI::App* add_eval_command(CLI::App& app, EvalArgs& args);

int run_eval(CLI::App& eval, const EvalArgs& args);

}  // namespace hyperalign::cli
