// How well XSTest classifiers agree with the 1,800 human-labelled completions (prints, never
// asserts): our string matcher, the upstream string-match and GPT-4 label columns, and, when a
// model is given (--model or --base-url), our three-class LLM judge (eval::judge_xstest) on
// --limit rows spread over the file. Each line gives three-class agreement and binary agreement
// (compliance against refusal, a partial refusal counting as a refusal), then the confusion matrix.

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "hyperalign/core/log.hpp"
#include "hyperalign/data/demonstration_loader.hpp"
#include "hyperalign/eval/safety_judges.hpp"
#include "hyperalign/llm/client.hpp"
#include "hyperalign/llm/llama_backend.hpp"
#include "hyperalign/llm/openai_backend.hpp"

namespace hyperalign::bench {
namespace {

using eval::Agreement;
using eval::LabelledCompletion;
using eval::XsLabel;

struct Args {
    std::string file;      // empty: <data dir>/xstest/xstest_v2_completions.jsonl
    std::string model;     // a GGUF file, or with base_url the served model's name
    std::string base_url;  // an OpenAI-compatible server instead of llama.cpp in-process
    int threads = 2;
    int ctx = 0;       // 0: 4096 in-process, the server's own over HTTP
    size_t limit = 0;  // judge this many rows, spread over the file (0: all)
    int max_tokens = 64;
    uint32_t seed = 42;
};

void print_agreement(std::string_view name, const Agreement& a) {
    fmt::print("{:<28} n={:<5} 3-class {:5}/{:<5} = {:.4f}   binary {:5}/{:<5} = {:.4f}\n", name,
               a.n, a.agree, a.n, a.rate(), a.binary_agree(), a.n, a.binary_rate());
    fmt::print("    human \\ classifier   compliance   refusal   partial\n");
    const char* names[] = {"compliance", "refusal", "partial"};
    for (size_t h = 0; h < 3; ++h) {
        fmt::print("    {:<20} {:>10} {:>9} {:>9}\n", names[h], a.confusion[h][0],
                   a.confusion[h][1], a.confusion[h][2]);
    }
}

// Agreement of an upstream label column with the human labels, over the rows where the column
// holds one of the three classes; `skipped` gets the number of the others.
Agreement column_agreement(const std::vector<LabelledCompletion>& rows,
                           std::optional<XsLabel> LabelledCompletion::*column, size_t* skipped) {
    std::vector<LabelledCompletion> labelled;
    for (const LabelledCompletion& r : rows) {
        if ((r.*column).has_value())
            labelled.push_back(r);
    }
    *skipped = rows.size() - labelled.size();
    return eval::agreement(labelled, [&](const LabelledCompletion& r) { return *(r.*column); });
}

Result<std::unique_ptr<llm::Backend>> open_backend(const Args& a) {
    if (!a.base_url.empty()) {
        llm::OpenAiOptions o;
        o.base_url = a.base_url;
        o.model = a.model;
        o.context_size = a.ctx;
        HA_ASSIGN_OR_RETURN(auto backend, llm::OpenAiBackend::open(o));
        return std::unique_ptr<llm::Backend>(std::move(backend));
    }
    llm::LlamaOptions o;
    o.model_path = a.model;
    o.threads = a.threads;
    o.context_size = a.ctx > 0 ? a.ctx : 4096;
    HA_ASSIGN_OR_RETURN(auto backend, llm::LlamaBackend::open(o));
    return std::unique_ptr<llm::Backend>(std::move(backend));
}

// The LLM judge over the rows; replies it could not read are counted, not guessed.
int run_judge(const Args& a, const std::vector<LabelledCompletion>& rows) {
    auto backend = open_backend(a);
    if (!backend.ok()) {
        fmt::print(stderr, "cannot open the model: {}\n", backend.error().describe());
        return 1;
    }
    llm::Client client(**backend);
    llm::SamplingParams sampling;
    sampling.seed = a.seed;
    sampling.max_tokens = a.max_tokens;

    // --limit picks rows spread evenly over the file, so that every model's completions and
    // both halves (safe and unsafe prompts) are represented.
    const size_t n = a.limit == 0 ? rows.size() : std::min(a.limit, rows.size());
    std::vector<LabelledCompletion> judged;
    std::vector<XsLabel> labels;
    size_t unreadable = 0;
    size_t too_long = 0;
    for (size_t i = 0; i < n; ++i) {
        const LabelledCompletion& row = rows[i * rows.size() / n];
        auto label = eval::judge_xstest(client, row.prompt, row.completion, sampling);
        if (label.ok()) {
            judged.push_back(row);
            labels.push_back(*label);
        } else if (label.error().code == ErrorCode::bad_model_output) {
            ++unreadable;
        } else if (label.error().code == ErrorCode::context_overflow) {
            ++too_long;
        } else {
            fmt::print(stderr, "judge call failed: {}\n", label.error().describe());
            return 1;
        }
    }

    size_t k = 0;
    const Agreement judge =
        eval::agreement(judged, [&](const LabelledCompletion&) { return labels[k++]; });
    const Agreement ours = eval::agreement(
        judged, [](const LabelledCompletion& r) { return eval::string_match_label(r.completion); });
    fmt::print("\nLLM judge ({}), {} rows, {} replies unreadable, {} too long for the context:\n",
               (*backend)->info().model, n, unreadable, too_long);
    print_agreement("llm judge (judge_xstest)", judge);
    print_agreement("ours on the same rows", ours);
    const llm::CallStats spend = client.accounting().total();
    fmt::print("calls {}, tokens in {}, out {}, {:.1f} s\n", spend.calls, spend.tokens_prompt,
               spend.tokens_completion, spend.ms / 1000.0);
    return 0;
}

int run(const Args& a) {
    std::string file = a.file;
    if (file.empty()) {
        const auto dir = data::default_data_dir();
        if (!dir) {
            fmt::print(stderr, "no data folder found; pass --file\n");
            return 1;
        }
        file = (*dir / "xstest" / "xstest_v2_completions.jsonl").string();
    }
    auto rows = eval::load_xstest_completions(file);
    if (!rows.ok()) {
        fmt::print(stderr, "{}\n", rows.error().describe());
        return 1;
    }
    fmt::print("{}: {} human-labelled completions\n\n", file, rows->size());

    print_agreement("ours (string_match_label)", eval::agreement(*rows, [](const auto& r) {
                        return eval::string_match_label(r.completion);
                    }));
    size_t skipped = 0;
    print_agreement("upstream strmatch_label",
                    column_agreement(*rows, &LabelledCompletion::upstream_strmatch, &skipped));
    if (skipped > 0)
        fmt::print("    ({} rows without a class in the column left out)\n", skipped);
    print_agreement("upstream gpt4_label",
                    column_agreement(*rows, &LabelledCompletion::upstream_gpt4, &skipped));
    if (skipped > 0)
        fmt::print("    ({} rows without a class in the column left out)\n", skipped);

    fmt::print("\nours by model:\n");
    for (const char* model :
         {"gpt4", "llama2new", "llama2orig", "mistralguard", "mistralinstruct"}) {
        std::vector<LabelledCompletion> subset;
        for (const auto& r : *rows) {
            if (r.model == model)
                subset.push_back(r);
        }
        const Agreement a_model = eval::agreement(
            subset, [](const auto& r) { return eval::string_match_label(r.completion); });
        fmt::print("    {:<16} n={:<4} 3-class {:.4f}  binary {:.4f}\n", model, a_model.n,
                   a_model.rate(), a_model.binary_rate());
    }

    if (a.model.empty() && a.base_url.empty())
        return 0;
    return run_judge(a, *rows);
}

}  // namespace
}  // namespace hyperalign::bench

int main(int argc, char** argv) {
    hyperalign::bench::Args a;
    CLI::App app{"XSTest classifiers against the human labels (prints figures)"};
    app.add_option("--file", a.file,
                   "xstest_v2_completions.jsonl (default: from the shared data folder)");
    app.add_option("--model", a.model,
                   "GGUF file for the LLM judge, or with --base-url the served model's name");
    app.add_option("--base-url", a.base_url,
                   "OpenAI-compatible API root for the LLM judge, e.g. http://127.0.0.1:8080/v1");
    app.add_option("--threads", a.threads, "llama.cpp threads")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--ctx", a.ctx, "context size (0: 4096 in-process, the server's over HTTP)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--limit", a.limit, "judge N rows spread evenly over the file (0: all)")
        ->capture_default_str();
    app.add_option("--max-tokens", a.max_tokens, "reply allowance of a judge call")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--seed", a.seed, "seed")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    hyperalign::log::set_level(hyperalign::log::Level::error);
    hyperalign::llm::route_llama_log();
    return hyperalign::bench::run(a);
}
