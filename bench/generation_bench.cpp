#include <algorithm>
#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <random>

#include <fmt/format.h>

#include "bench.hpp"
#include "hyperalign/llm/client.hpp"
#include "hyperalign/llm/llama_backend.hpp"
#include "raw_llama.hpp"

namespace hyperalign::bench {
namespace {

// One timed call through our backend, in the raw loop's terms.
struct OursRun {
    int tokens_prompt = 0;
    int tokens_generated = 0;
    double ms_prompt = 0;
    double ms_generation = 0;
    double ms_wall = 0;  // around chat(), as a caller sees it
    bool failed = false;
};

double per_second(double count, double ms) {
    return ms > 0 ? count * 1000.0 / ms : 0;
}

llm::ChatRequest greedy_request(const std::string& prompt, int max_tokens) {
    llm::ChatRequest request;
    request.messages = {{"user", prompt}};
    request.sampling.temperature = 0.0f;
    request.sampling.max_tokens = max_tokens;
    request.purpose = "generation";
    return request;
}

OursRun time_ours(llm::Backend& backend, const llm::ChatRequest& request) {
    OursRun run;
    const auto started = Clock::now();
    auto response = backend.chat(request);
    run.ms_wall = ms_between(started, Clock::now());
    if (!response.ok()) {
        fmt::print(stderr, "chat failed: {}\n", response.error().describe());
        run.failed = true;
        return run;
    }
    run.tokens_prompt = int(response->usage.tokens_prompt);
    run.tokens_generated = int(response->usage.tokens_completion);
    run.ms_prompt = response->timings.ms_prompt;
    run.ms_generation = response->timings.ms_completion;
    return run;
}

struct Sides {
    std::unique_ptr<llm::LlamaBackend> ours;
    std::unique_ptr<RawLlama> raw;
};

// Both sides on the same model, context, batch and threads. "plain" makes our rendered prompt
// the user text itself, so both decode the same tokens.
std::optional<Sides> open_sides(const BenchArgs& args, int n_ctx) {
    llm::LlamaOptions options;
    options.model_path = args.model;
    options.threads = args.threads;
    options.context_size = n_ctx;
    options.chat_template = "plain";
    auto ours = llm::LlamaBackend::open(options);
    if (!ours.ok()) {
        fmt::print(stderr, "cannot open our backend: {}\n", ours.error().describe());
        return std::nullopt;
    }
    Sides sides{std::move(ours).value(),
                RawLlama::open(args.model, n_ctx, args.threads, options.batch_size)};
    if (!sides.raw) {
        fmt::print(stderr, "llama.cpp could not load {}\n", args.model);
        return std::nullopt;
    }
    return sides;
}

// Greedy decoding is deterministic, so the raw loop finds where the model would stop on its
// own; asking both sides for no more than that, and no more than the context holds, makes them
// generate the same count.
int calibrate_tokens(RawLlama& raw, const std::string& prompt, int wanted) {
    const int room = raw.context_size() - int(raw.tokenize(prompt).size());
    if (wanted > room) {
        fmt::print("note: the context holds {} generated tokens; measuring {} instead of {}\n",
                   room, room, wanted);
        wanted = room;
    }
    RawRun probe = raw.generate(prompt, wanted, false);
    if (probe.failed)
        return 0;
    if (probe.hit_eog) {
        fmt::print(
            "note: greedy decoding reaches EOS after {} tokens; measuring {} instead of {}\n",
            probe.tokens_generated, probe.tokens_generated, wanted);
        return probe.tokens_generated;
    }
    return wanted;
}

int generation_speed(const BenchArgs& args, Sides& sides, const std::string& prompt) {
    const int n = calibrate_tokens(*sides.raw, prompt, args.tokens);
    if (n < 1) {
        fmt::print(stderr,
                   "no tokens to measure: the model stops at once, the prompt fills the "
                   "context or llama_decode failed\n");
        return 1;
    }
    const llm::ChatRequest request = greedy_request(prompt, n);
    time_ours(*sides.ours, request);  // warm-up: first-touch of buffers, thread start
    sides.raw->generate(prompt, n, false);

    fmt::print("\n[1] generation, {} pairs alternating, greedy, max_tokens {}\n", args.runs, n);
    fmt::print("{:>4} {:>5} | {:>7} {:>7} {:>10} {:>10} | {:>7} {:>7} {:>10} {:>10} | {:>6}\n",
               "pair", "first", "ours pp", "gen", "pp tok/s", "gen tok/s", "raw pp", "gen",
               "pp tok/s", "gen tok/s", "ratio");
    std::vector<double> ratio, ours_gen, raw_gen, ours_pp, raw_pp, ours_wall, raw_wall;
    bool counts_match = true;
    for (int i = 0; i < args.runs; ++i) {
        // Alternating who goes first cancels any advantage of running second (warm caches,
        // a CPU frequency step) over the pairs.
        OursRun o;
        RawRun r;
        if (i % 2 == 0) {
            o = time_ours(*sides.ours, request);
            r = sides.raw->generate(prompt, n, false);
        } else {
            r = sides.raw->generate(prompt, n, false);
            o = time_ours(*sides.ours, request);
        }
        if (o.failed || r.failed) {
            fmt::print(stderr, "a run failed ({})\n", o.failed ? "ours" : "raw llama_decode");
            return 1;
        }
        counts_match = counts_match && o.tokens_generated == r.tokens_generated &&
                       o.tokens_prompt == r.tokens_prompt;

        ours_gen.push_back(per_second(o.tokens_generated, o.ms_generation));
        raw_gen.push_back(per_second(r.tokens_generated, r.ms_generation));
        ours_pp.push_back(per_second(o.tokens_prompt, o.ms_prompt));
        raw_pp.push_back(per_second(r.tokens_prompt, r.ms_prompt));
        ours_wall.push_back(o.ms_wall);
        raw_wall.push_back(r.ms_total);
        ratio.push_back(raw_gen.back() > 0 ? ours_gen.back() / raw_gen.back() : 0);
        fmt::print(
            "{:>4} {:>5} | {:>7} {:>7} {:>10.0f} {:>10.0f} | {:>7} {:>7} {:>10.0f} "
            "{:>10.0f} | {:>6.3f}\n",
            i + 1, i % 2 == 0 ? "ours" : "raw", o.tokens_prompt, o.tokens_generated, ours_pp.back(),
            ours_gen.back(), r.tokens_prompt, r.tokens_generated, raw_pp.back(), raw_gen.back(),
            ratio.back());
    }

    fmt::print("median generation tok/s: ours {:.0f}, raw {:.0f}\n", median(ours_gen),
               median(raw_gen));
    fmt::print("median prompt-eval tok/s: ours {:.0f}, raw {:.0f}\n", median(ours_pp),
               median(raw_pp));
    fmt::print("median wall per call ms: ours {:.3f}, raw {:.3f}\n", median(ours_wall),
               median(raw_wall));
    fmt::print("RATIO generation ours/raw (median of pairs): {:.3f} (goal >= 0.95)\n",
               median(ratio));
    if (!counts_match)
        fmt::print("WARNING: token counts differ between the sides (see table)\n");
    return 0;
}

// Median over rounds of a[i] - b[i]: pairs taken in the same round saw the same load.
double paired_median(const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> d;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i)
        d.push_back(a[i] - b[i]);
    return median(d);
}

// Wall time of 1-token calls on short prompts. Every round runs each variant once, in a fresh
// seeded order, so that load from other processes and cache warmth fall on all of them alike.
// llama.cpp reuses a compute graph when a decode has the same shape as the previous one on that
// context; real calls have prompts of varying length and never get that, so the rounds alternate
// two prompts of different lengths and each raw variant has a context of its own.
int call_overhead(const BenchArgs& args, Sides& sides, const std::array<std::string, 2>& prompts) {
    auto twin = RawLlama::open(args.model, sides.raw->context_size(), args.threads,
                               llm::LlamaOptions{}.batch_size);
    if (!twin) {
        fmt::print(stderr, "llama.cpp could not load {} a second time\n", args.model);
        return 1;
    }
    llm::Client client(*sides.ours);
    const std::array<const char*, 4> names = {"raw loop, 1 token", "raw + decode of that token",
                                              "LlamaBackend::chat", "Client::chat"};
    std::array<std::vector<double>, 4> us;
    std::vector<int> generated(names.size(), -1);
    auto time_one = [&](size_t variant, const std::string& prompt) -> bool {
        if (variant < 2) {
            RawRun r = (variant == 0 ? *sides.raw : *twin).generate(prompt, 1, variant == 1);
            us[variant].push_back(r.ms_total * 1000);
            generated[variant] = r.tokens_generated;
            if (r.failed)
                fmt::print(stderr, "raw llama_decode failed\n");
            return !r.failed;
        }
        const llm::ChatRequest request = greedy_request(prompt, 1);
        const auto started = Clock::now();
        auto response = variant == 2 ? sides.ours->chat(request) : client.chat(request);
        us[variant].push_back(ms_between(started, Clock::now()) * 1000);
        if (!response.ok()) {
            fmt::print(stderr, "chat failed: {}\n", response.error().describe());
            return false;
        }
        generated[variant] = int(response->usage.tokens_completion);
        return true;
    };

    for (size_t v = 0; v < names.size(); ++v)
        time_one(v, prompts[0]);  // warm-up
    for (auto& u : us)
        u.clear();
    std::mt19937 rng(42);
    std::array<size_t, 4> order = {0, 1, 2, 3};
    for (int round = 0; round < args.calls; ++round) {
        std::shuffle(order.begin(), order.end(), rng);
        for (size_t variant : order) {
            if (!time_one(variant, prompts[size_t(round % 2)]))
                return 1;
        }
    }

    fmt::print("\n[2] per-call overhead: {} rounds of 1-token calls, prompts of {} and {} tokens\n",
               args.calls, sides.raw->tokenize(prompts[0]).size(),
               sides.raw->tokenize(prompts[1]).size());
    for (size_t v = 0; v < names.size(); ++v) {
        fmt::print("  {:<28} median {:>8.1f} us  (tokens generated {})\n", names[v], median(us[v]),
                   generated[v]);
    }
    fmt::print(
        "OVERHEAD per call vs the minimal loop (paired medians): LlamaBackend::chat "
        "{:.1f} us, Client::chat {:.1f} us\n",
        paired_median(us[2], us[0]), paired_median(us[3], us[0]));
    fmt::print("  of which decoding the sampled token, which a minimal loop skips: {:.1f} us\n",
               paired_median(us[1], us[0]));
    fmt::print(
        "  of which our code around llama.cpp (chat - raw with that decode): "
        "LlamaBackend {:.1f} us, Client {:.1f} us\n",
        paired_median(us[2], us[1]), paired_median(us[3], us[1]));
    return 0;
}

}  // namespace

int run_generation(const BenchArgs& args) {
    // Copies of one neutral text make a long prompt without another file to maintain.
    const std::string text = read_text(args.prompt_file);
    std::string prompt = text;
    for (int i = 1; i < args.prompt_repeat; ++i)
        prompt += " " + text;
    const std::string short_text = read_text(args.short_prompt_file);
    const size_t newline = short_text.find('\n');
    const std::array<std::string, 2> short_prompts = {
        short_text.substr(0, newline),
        newline == std::string::npos ? short_text : short_text.substr(newline + 1)};
    if (text.empty() || short_prompts[0].empty() || short_prompts[1].empty()) {
        fmt::print(stderr, "cannot read the prompts {} and {} (two lines)\n", args.prompt_file,
                   args.short_prompt_file);
        return 1;
    }
    const int n_ctx = args.ctx > 0 ? args.ctx : 2048;
    fmt::print("model {}\nthreads {}, context {}, batch 512, greedy\n", args.model, args.threads,
               n_ctx);
    print_load("before");

    auto sides = open_sides(args, n_ctx);
    if (!sides)
        return 1;
    if (int rc = generation_speed(args, *sides, prompt); rc != 0)
        return rc;
    if (int rc = call_overhead(args, *sides, short_prompts); rc != 0)
        return rc;
    print_load("after");
    return 0;
}

}  // namespace hyperalign::bench
