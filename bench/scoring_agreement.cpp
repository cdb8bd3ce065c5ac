// Issue #4's figures for batched scoring. Prints, never asserts: one author's rows (built as
// build_profile builds them), one bank of hypotheses generated once, then every (hypothesis, row)
// scored as the engine scores a row (HypothesisEngine::predict_row), one call each and in batches
// of N; the model calls, tokens and time each way, the calls batching saves, and how often the
// two agree on a verdict. --base-url measures a model server instead of the tiny test model.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "hyperalign/core/log.hpp"
#include "hyperalign/data/demonstration_loader.hpp"
#include "hyperalign/learn/hypothesis_engine.hpp"
#include "hyperalign/learn/profile_builder.hpp"
#include "hyperalign/llm/client.hpp"
#include "hyperalign/llm/llama_backend.hpp"
#include "hyperalign/llm/openai_backend.hpp"

namespace hyperalign::bench {
namespace {

using Clock = std::chrono::steady_clock;
using learn::Verdict;

struct Args {
    std::string model;     // a GGUF file, or with base_url the served model's name
    std::string base_url;  // an OpenAI-compatible server instead of llama.cpp in-process
    int threads = 1;
    int ctx = 0;  // 0: 4096 in-process, the server's own over HTTP
    std::string chat_template;
    std::string dataset = "ccat50";
    std::string author = "FumikoFujisaki";
    size_t demos = 0;  // 0: all of the author's
    std::string contrast = "base_model";
    uint32_t seed = 42;
    std::vector<int> batches = {5};
    int runs = 1;  // of every way, alternating; times are medians
    int init_batch_size = 4;
    int hypotheses_per_batch = 5;
    int max_tokens_generate = 1024;
    int max_tokens_predict = 256;
    int max_tokens_contrast = 512;
};

// A verdict per (hypothesis, row), and what the calls that gave them cost.
struct Scoring {
    std::vector<std::vector<Verdict>> verdicts;  // [hypothesis][row]
    llm::CallStats spend;
    double seconds = 0;
    double seconds_prompt = 0;      // the engine's prompt evaluation, as it reports it
    double seconds_completion = 0;  // the engine's generation
    int64_t first_attempts = 0;     // calls before any repair
    int texts_cut = 0;              // distinct texts cut to fit the context
};

// Passes calls through and adds up the engine's own timings, so that prompt evaluation and
// generation can be told apart.
class TimedBackend final : public llm::Backend {
  public:
    explicit TimedBackend(llm::Backend& inner) : inner_(inner) {}

    Result<llm::ChatResponse> chat(const llm::ChatRequest& request) override {
        auto response = inner_.chat(request);
        if (response.ok()) {
            ms_prompt += response->timings.ms_prompt;
            ms_completion += response->timings.ms_completion;
        }
        return response;
    }
    Result<int> count_tokens(std::string_view text) override { return inner_.count_tokens(text); }
    const llm::ModelInfo& info() const override { return inner_.info(); }

    double ms_prompt = 0;
    double ms_completion = 0;

  private:
    llm::Backend& inner_;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t mid = v.size() / 2;
    return v.empty() ? 0 : v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
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
    o.model_path = a.model.empty() ? HYPERALIGN_BENCH_MODEL : a.model;
    o.threads = a.threads;
    o.context_size = a.ctx > 0 ? a.ctx : 4096;
    o.chat_template = a.chat_template;
    HA_ASSIGN_OR_RETURN(auto backend, llm::LlamaBackend::open(o));
    return std::unique_ptr<llm::Backend>(std::move(backend));
}

// The engine's options as build_profile sets them: the seed, the person, reply allowances at
// most half the context.
learn::ProfileOptions profile_options(const Args& a, int context_size) {
    learn::ProfileOptions o;
    o.person = a.author;
    o.seed = a.seed;
    o.max_tokens_contrast = a.max_tokens_contrast;
    o.engine.sampling.seed = a.seed;
    o.engine.person = a.author;
    o.engine.init_batch_size = a.init_batch_size;
    o.engine.hypotheses_per_batch = a.hypotheses_per_batch;
    o.engine.max_tokens_generate = a.max_tokens_generate;
    o.engine.max_tokens_predict = a.max_tokens_predict;
    const int half = std::max(64, context_size / 2);
    for (int* allowance :
         {&o.max_tokens_contrast, &o.engine.max_tokens_generate, &o.engine.max_tokens_predict})
        *allowance = std::min(*allowance, half);
    return o;
}

// Pair rows as build_profile makes them: the person's text against a contrast, the person's
// position drawn by balanced_positions.
Result<learn::TaskRows> build_rows(const Args& a, llm::Client& client, learn::TextFitter& fitter,
                                   const std::vector<Demonstration>& demos,
                                   const learn::ProfileOptions& options) {
    HA_ASSIGN_OR_RETURN(auto source, learn::parse_contrast_source(a.contrast));
    std::vector<std::string> contrasts;
    if (source == learn::ContrastSource::base_model) {
        HA_ASSIGN_OR_RETURN(contrasts, learn::model_contrasts(client, fitter, demos, options));
    } else {
        HA_ASSIGN_OR_RETURN(auto pool, data::load_demonstrations(a.dataset));
        HA_ASSIGN_OR_RETURN(contrasts, learn::pool_contrasts(demos, pool, options.seed));
    }
    learn::TaskRows rows;
    std::vector<bool> first = learn::balanced_positions(demos.size(), options.seed);
    for (size_t i = 0; i < demos.size(); ++i)
        rows.pairs.push_back({demos[i].id, demos[i].prompt, demos[i].text, contrasts[i], first[i]});
    return rows;
}

// HypoGenic's initial generation (blocks of rows, de-duplicated in order), without scoring.
Result<std::vector<std::string>> generate_bank(learn::HypothesisEngine& engine,
                                               const learn::TaskRows& rows, int block) {
    std::vector<std::string> bank;
    std::set<std::string> seen;
    for (size_t from = 0; from < rows.size(); from += size_t(block)) {
        std::vector<size_t> batch;
        for (size_t i = from; i < std::min(rows.size(), from + size_t(block)); ++i)
            batch.push_back(i);
        HA_ASSIGN_OR_RETURN(auto texts,
                            engine.generate(rows, batch, engine.options().hypotheses_per_batch));
        for (auto& t : texts) {
            if (seen.insert(t).second)
                bank.push_back(std::move(t));
        }
    }
    return bank;
}

// Scores the bank on every row, row by row as the engine does (HypothesisEngine::predict_row):
// one call per hypothesis when batch is 1, else groups of up to `batch` hypotheses per call.
Result<Scoring> score(llm::Backend& model, const learn::ProfileOptions& options,
                      const std::vector<std::string>& bank, const learn::TaskRows& rows,
                      int batch) {
    TimedBackend backend(model);
    llm::Client client(backend);
    learn::TextFitter fitter(backend);
    learn::EngineOptions engine_options = options.engine;
    engine_options.scoring_batch = batch;
    learn::HypothesisEngine engine(client, fitter, engine_options);
    Scoring s;
    s.verdicts.assign(bank.size(), std::vector<Verdict>(rows.size(), Verdict::invalid));
    const auto started = Clock::now();
    for (size_t i = 0; i < rows.size(); ++i) {
        HA_ASSIGN_OR_RETURN(auto verdicts, engine.predict_row(bank, rows, i));
        for (size_t h = 0; h < bank.size(); ++h)
            s.verdicts[h][i] = verdicts[h];
        s.first_attempts += int64_t((bank.size() + size_t(batch) - 1) / size_t(batch));
    }
    s.seconds = seconds_since(started);
    s.seconds_prompt = backend.ms_prompt / 1000;
    s.seconds_completion = backend.ms_completion / 1000;
    s.spend = client.accounting().total();
    s.texts_cut = fitter.texts_cut();
    return s;
}

struct Counts {
    int64_t right = 0, wrong = 0, invalid = 0;
};

Counts count(const Scoring& s) {
    Counts c;
    for (const auto& row : s.verdicts) {
        for (Verdict v : row) {
            c.right += v == Verdict::right;
            c.wrong += v == Verdict::wrong;
            c.invalid += v == Verdict::invalid;
        }
    }
    return c;
}

std::string way_name(int batch) {
    return batch == 1 ? "single" : fmt::format("batch {}", batch);
}

// One way's figures over its runs: the first run's counts (greedy decoding repeats them),
// median times.
struct Summary {
    Scoring first;
    double seconds = 0, seconds_prompt = 0, seconds_completion = 0;
    bool repeatable = true;  // every run gave the same verdicts
};

Summary summarise(const std::vector<Scoring>& runs) {
    Summary out;
    out.first = runs.front();
    std::vector<double> wall, prompt, completion;
    for (const auto& r : runs) {
        wall.push_back(r.seconds);
        prompt.push_back(r.seconds_prompt);
        completion.push_back(r.seconds_completion);
        out.repeatable = out.repeatable && r.verdicts == runs.front().verdicts;
    }
    out.seconds = median(wall);
    out.seconds_prompt = median(prompt);
    out.seconds_completion = median(completion);
    return out;
}

void print_way(const std::string& name, const Summary& w) {
    const Scoring& s = w.first;
    const Counts c = count(s);
    fmt::print(
        "  {:<10} {:>6} {:>7} {:>4} {:>9} {:>9} {:>8} {:>8.2f} {:>8.2f} {:>8.2f}   {:>4} / {:>4} / "
        "{:>4}\n",
        name, s.spend.calls, s.spend.calls - s.first_attempts, s.texts_cut, s.spend.tokens_prompt,
        s.spend.tokens_prompt_cached, s.spend.tokens_completion, w.seconds, w.seconds_prompt,
        w.seconds_completion, c.right, c.wrong, c.invalid);
}

double percent_saved(int64_t single, int64_t batched) {
    return 100.0 * double(single - batched) / double(std::max<int64_t>(1, single));
}

void print_savings(const std::string& name, const Summary& single, const Summary& batched) {
    const llm::CallStats& one = single.first.spend;
    const llm::CallStats& many = batched.first.spend;
    fmt::print(
        "  {:<10} calls {} vs {} ({:.1f}% saved; before repairs {} vs {}, {:.1f}% saved), "
        "prompt tokens {:.1f}% saved, wall time {:.2f} s vs {:.2f} s ({:.1f}% saved)\n",
        name, many.calls, one.calls, percent_saved(one.calls, many.calls),
        batched.first.first_attempts, single.first.first_attempts,
        percent_saved(single.first.first_attempts, batched.first.first_attempts),
        percent_saved(one.tokens_prompt, many.tokens_prompt), batched.seconds, single.seconds,
        100.0 * (single.seconds - batched.seconds) / std::max(1e-9, single.seconds));
}

// Agreement of two scorings on the same pairs: the fraction with the same verdict (an
// unusable reply is its own verdict), the same over pairs both could use, and Cohen's kappa
// (agreement beyond what each way's verdict rates give by chance).
void print_agreement(const std::string& name, const Scoring& single, const Scoring& batched) {
    const int verdict_kinds = 3;
    int64_t same = 0, pairs = 0, both_valid = 0, same_valid = 0;
    std::vector<double> rate_single(verdict_kinds, 0), rate_batched(verdict_kinds, 0);
    for (size_t h = 0; h < single.verdicts.size(); ++h) {
        for (size_t i = 0; i < single.verdicts[h].size(); ++i) {
            const Verdict a = single.verdicts[h][i];
            const Verdict b = batched.verdicts[h][i];
            ++pairs;
            same += a == b;
            rate_single[size_t(a)] += 1;
            rate_batched[size_t(b)] += 1;
            if (a != Verdict::invalid && b != Verdict::invalid) {
                ++both_valid;
                same_valid += a == b;
            }
        }
    }
    if (pairs == 0)
        return;
    const double observed = double(same) / double(pairs);
    double chance = 0;
    for (int k = 0; k < verdict_kinds; ++k)
        chance += rate_single[size_t(k)] / double(pairs) * rate_batched[size_t(k)] / double(pairs);
    const std::string kappa =
        chance < 1 ? fmt::format("{:.2f}", (observed - chance) / (1 - chance)) : "undefined";
    fmt::print("  {:<10} agreement {}/{} = {:.1f}%, on pairs both could use {}/{} = {}, kappa {}\n",
               name, same, pairs, 100 * observed, same_valid, both_valid,
               both_valid > 0
                   ? fmt::format("{:.1f}%", 100.0 * double(same_valid) / double(both_valid))
                   : "n/a",
               kappa);
}

int run(const Args& a) {
    data::LoadOptions load;
    load.author = a.author;
    load.limit = a.demos;
    auto demos = data::load_demonstrations(a.dataset, load);
    if (!demos.ok()) {
        fmt::print(stderr, "cannot load {}: {}\n", a.dataset, demos.error().describe());
        return 1;
    }
    auto backend = open_backend(a);
    if (!backend.ok()) {
        fmt::print(stderr, "cannot open the model: {}\n", backend.error().describe());
        return 1;
    }
    const llm::ModelInfo& info = (*backend)->info();
    fmt::print("model {} ({}), context {}, threads {}\n", info.model, info.backend,
               info.context_size, a.base_url.empty() ? fmt::format("{}", a.threads) : "n/a");
    const learn::ProfileOptions options = profile_options(a, info.context_size);

    // The rows and the bank, made once and shared by every way of scoring.
    llm::Client setup(**backend);
    learn::TextFitter fitter(**backend);
    auto rows = build_rows(a, setup, fitter, *demos, options);
    if (!rows.ok()) {
        fmt::print(stderr, "cannot build the rows: {}\n", rows.error().describe());
        return 1;
    }
    learn::HypothesisEngine generator(setup, fitter, options.engine);
    auto bank = generate_bank(generator, *rows, a.init_batch_size);
    if (!bank.ok() || bank->empty()) {
        fmt::print(stderr, "no hypotheses: {}\n",
                   bank.ok() ? "the model proposed none" : bank.error().describe());
        return 1;
    }
    const int64_t pairs = int64_t(bank->size() * rows->size());
    fmt::print("{} of {}: {} rows (contrast {}), {} hypotheses, {} (hypothesis, row) pairs\n",
               a.author, a.dataset, rows->size(), a.contrast, bank->size(), pairs);
    std::fflush(stdout);

    // Every way once per run, in turn, so that a busy spell of the machine slows all of them.
    std::vector<int> ways = {1};
    ways.insert(ways.end(), a.batches.begin(), a.batches.end());
    std::vector<std::vector<Scoring>> runs(ways.size());
    for (int r = 0; r < a.runs; ++r) {
        for (size_t w = 0; w < ways.size(); ++w) {
            auto s = score(**backend, options, *bank, *rows, ways[w]);
            if (!s.ok()) {
                fmt::print(stderr, "{} scoring failed: {}\n", way_name(ways[w]),
                           s.error().describe());
                return 1;
            }
            runs[w].push_back(std::move(s).value());
        }
    }
    std::vector<Summary> summaries;
    for (const auto& r : runs)
        summaries.push_back(summarise(r));

    fmt::print("\n  {:<10} {:>6} {:>7} {:>4} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}   {}\n", "way",
               "calls", "repairs", "cut", "tok in", "in cached", "tok out", "wall s", "prompt s",
               "gen s", "right / wrong / invalid");
    for (size_t w = 0; w < ways.size(); ++w)
        print_way(way_name(ways[w]), summaries[w]);
    fmt::print("  (times: medians of {} run(s); prompt s and gen s as the engine reports them)\n\n",
               a.runs);
    for (size_t w = 1; w < ways.size(); ++w)
        print_savings(way_name(ways[w]), summaries[0], summaries[w]);
    for (size_t w = 1; w < ways.size(); ++w)
        print_agreement(way_name(ways[w]), summaries[0].first, summaries[w].first);
    if (a.runs > 1) {
        const bool all = std::all_of(summaries.begin(), summaries.end(),
                                     [](const Summary& w) { return w.repeatable; });
        fmt::print("  verdicts the same in every run: {}\n", all ? "yes" : "no");
    }
    fmt::print(
        "\nnote: the call counts and times measure the machinery; the agreement measures the "
        "model's judgement and means something only with a capable model (the tiny test model's "
        "answers are close to random).\n");
    return 0;
}

}  // namespace
}  // namespace hyperalign::bench

int main(int argc, char** argv) {
    hyperalign::bench::Args a;
    CLI::App app{"Batched scoring against one call per hypothesis and row (prints figures)"};
    app.add_option("--model", a.model,
                   "GGUF file (default: the tests' tiny model), or with --base-url the served "
                   "model's name (default: the server's first)");
    app.add_option("--base-url", a.base_url,
                   "OpenAI-compatible API root, e.g. "
                   "http://127.0.0.1:8080/v1");
    app.add_option("--threads", a.threads, "llama.cpp threads")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--ctx", a.ctx, "context size (0: 4096 in-process, the server's over HTTP)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--chat-template", a.chat_template, "chat template (in-process)");
    app.add_option("--dataset", a.dataset, "demonstrations")->capture_default_str();
    app.add_option("--author", a.author, "whose demonstrations")->capture_default_str();
    app.add_option("--demos", a.demos, "use at most this many (0: all)")->capture_default_str();
    app.add_option("--contrast", a.contrast, "base_model or others")->capture_default_str();
    app.add_option("--seed", a.seed, "seed")->capture_default_str();
    app.add_option("--batch", a.batches, "hypotheses per batched call; several: 3,5,20")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::Range(2, 100));
    app.add_option("--per-batch", a.hypotheses_per_batch, "hypotheses asked per generation call")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--init-batch-size", a.init_batch_size, "rows per generation call")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--runs", a.runs, "runs of every way, alternating (times are medians)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    bool verbose = false;
    app.add_flag("--verbose", verbose, "log why replies were repaired (warn level)");
    CLI11_PARSE(app, argc, argv);

    // Repairs and cut texts would bury the figures; they are counted in the table instead.
    hyperalign::log::set_level(verbose ? hyperalign::log::Level::warn
                                       : hyperalign::log::Level::error);
    hyperalign::llm::route_llama_log();
    return hyperalign::bench::run(a);
}
