// Issue #2's figures for the in-process llama.cpp backend. Prints, never asserts:
//   default mode:  generation speed of LlamaBackend against a raw C-API loop, and the time one
//                  model call costs beyond llama.cpp itself;
//   --profile:     model calls, tokens and time to build one author's profile.

#include <cctype>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "bench.hpp"
#include "hyperalign/core/log.hpp"
#include "hyperalign/llm/llama_backend.hpp"

namespace hyperalign::bench {

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return {};
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.pop_back();
    return text;
}

void print_load(const char* when) {
    // The averages lag by a minute; "runnable" (this program included) is the state right now.
    std::ifstream in("/proc/loadavg");
    double one = 0, five = 0, fifteen = 0;
    std::string tasks;
    if (in >> one >> five >> fifteen >> tasks) {
        fmt::print("load {}: {:.2f} {:.2f} {:.2f} (1, 5, 15 min), runnable now {}\n", when, one,
                   five, fifteen, tasks.substr(0, tasks.find('/')));
    }
}

}  // namespace hyperalign::bench

int main(int argc, char** argv) {
    using hyperalign::bench::BenchArgs;
    BenchArgs args;
    args.model = HYPERALIGN_BENCH_MODEL;
    args.prompt_file = std::string(HYPERALIGN_BENCH_DATA_DIR) + "/prompt_generation.txt";
    args.short_prompt_file = std::string(HYPERALIGN_BENCH_DATA_DIR) + "/prompt_short.txt";
    bool profile = false;

    CLI::App app{"In-process backend benchmark (prints figures)"};
    app.add_option("--model", args.model, "GGUF model")->capture_default_str();
    app.add_option("--threads", args.threads, "llama.cpp threads; use 1 on a busy machine")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--runs", args.runs, "alternating pairs for generation speed")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--ctx", args.ctx, "context size (default 2048; 4096 with --profile)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--tokens", args.tokens, "generated tokens per run (lowered to the EOS point)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--calls", args.calls, "rounds of 1-token calls for the overhead")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--prompt", args.prompt_file, "prompt file for generation speed")
        ->capture_default_str();
    app.add_option("--prompt-repeat", args.prompt_repeat, "copies of it in the prompt")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--short-prompt", args.short_prompt_file,
                   "two prompts, one a line, of different token counts, for the overhead")
        ->capture_default_str();
    app.add_flag("--profile", profile, "measure building one author's profile instead");
    app.add_option("--dataset", args.dataset, "demonstrations (--profile)")->capture_default_str();
    app.add_option("--author", args.author, "author (--profile)")->capture_default_str();
    app.add_option("--chat-template", args.chat_template, "chat template (--profile)");
    app.add_option("--per-batch", args.per_batch, "hypotheses per batch (--profile)")
        ->capture_default_str();
    app.add_option("--max-hypotheses", args.max_hypotheses, "bank size (--profile)")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    // llama.cpp's own messages would bury the figures; warnings and errors still show.
    hyperalign::log::set_level(hyperalign::log::Level::warn);
    hyperalign::llm::route_llama_log();

    return profile ? hyperalign::bench::run_profile(args) : hyperalign::bench::run_generation(args);
}
