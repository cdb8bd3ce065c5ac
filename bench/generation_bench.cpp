#include <array>
#include <functional>
#include <memory>

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

double per_second(double count, double ms) { return ms > 0 ? count * 1000.0 / ms : 0; }

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
    Sides sides{std::move(ours).value(), RawLlama::open(args.model, n_ctx, args.threads,
                                                        options.batch_size)};
    if (!sides.raw) {
        fmt::print(stderr, "llama.cpp could not load {}\n", args.model);
        return std::nullopt;
    }
    return sides;
}

// Greedy decoding is deterministic, so the raw loop finds where the model would stop on its
// own; asking both sides for no more than that makes them generate the same count.
int calibrate_tokens(RawLlama& raw, const std::string& prompt, int wanted) {
    RawRun probe = raw.generate(prompt, wanted, false);
    if (probe.hit_eog) {
        fmt::print("note: greedy decoding reaches EOS after {} tokens; measuring {} instead of {}\n",
                   probe.tokens_generated, probe.tokens_generated, wanted);
        return probe.tokens_generated;
    }
    return wanted;
}

int generation_speed(const BenchArgs& args, Sides& sides, const std::string& prompt) {
    const int n = calibrate_tokens(*sides.raw, prompt, args.tokens);
    if (n < 1) {
        fmt::print(stderr, "the model stops at once on this prompt; choose another\n");
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
        if (o.failed || r.failed) return 1;
        counts_match = counts_match && o.tokens_generated == r.tokens_generated &&
                       o.tokens_prompt == r.tokens_prompt;

        ours_gen.push_back(per_second(o.tokens_generated, o.ms_generation));
        raw_gen.push_back(per_second(r.tokens_generated, r.ms_generation));
        ours_pp.push_back(per_second(o.tokens_prompt, o.ms_prompt));
        raw_pp.push_back(per_second(r.tokens_prompt, r.ms_prompt));
        ours_wall.push_back(o.ms_wall);
        raw_wall.push_back(r.ms_total);
        ratio.push_back(raw_gen.back() > 0 ? ours_gen.back() / raw_gen.back() : 0);
        fmt::print("{:>4} {:>5} | {:>7} {:>7} {:>10.0f} {:>10.0f} | {:>7} {:>7} {:>10.0f} "
                   "{:>10.0f} | {:>6.3f}\n",
                   i + 1, i % 2 == 0 ? "ours" : "raw", o.tokens_prompt, o.tokens_generated,
                   ours_pp.back(), ours_gen.back(), r.tokens_prompt, r.tokens_generated,
                   raw_pp.back(), raw_gen.back(), ratio.back());
    }

    fmt::print("median generation tok/s: ours {:.0f}, raw {:.0f}\n", median(ours_gen),
               median(raw_gen));
    fmt::print("median prompt-eval tok/s: ours {:.0f}, raw {:.0f}\n", median(ours_pp),
               median(raw_pp));
    fmt::print("median wall per call ms: ours {:.3f}, raw {:.3f}\n", median(ours_wall),
               median(raw_wall));
    fmt::print("RATIO generation ours/raw (median of pairs): {:.3f} (goal >= 0.95)\n",
               median(ratio));
    if (!counts_match) fmt::print("WARNING: token counts differ between the sides (see table)\n");
    return 0;
}

// Wall time of 1-token calls on a short prompt. The variants run in rotating order within each
// round, so that load from other processes falls on all of them alike.
int call_overhead(const BenchArgs& args, Sides& sides, const std::string& prompt) {
    llm::Client client(*sides.ours);
    const llm::ChatRequest request = greedy_request(prompt, 1);
    const std::array<const char*, 4> names = {"raw loop, 1 token", "raw + decode of that token",
                                              "LlamaBackend::chat", "Client::chat"};
    std::array<std::vector<double>, 4> us;
    std::vector<int> generated(names.size(), -1);
    auto time_one = [&](size_t variant) -> bool {
        if (variant < 2) {
            RawRun r = sides.raw->generate(prompt, 1, variant == 1);
            us[variant].push_back(r.ms_total * 1000);
            generated[variant] = r.tokens_generated;
            return !r.failed;
        }
        const auto started = Clock::now();
        auto response = variant == 2 ? sides.ours->chat(request) : client.chat(request);
        us[variant].push_back(ms_between(started, Clock::now()) * 1000);
        if (response.ok()) generated[variant] = int(response->usage.tokens_completion);
        return response.ok();
    };

    for (size_t v = 0; v < names.size(); ++v) time_one(v);  // warm-up
    for (auto& u : us) u.clear();
    for (int round = 0; round < args.calls; ++round) {
        for (size_t k = 0; k < names.size(); ++k) {
            if (!time_one((k + size_t(round)) % names.size())) return 1;
        }
    }

    fmt::print("\n[2] per-call overhead: {} rounds of 1-token calls, short prompt\n", args.calls);
    for (size_t v = 0; v < names.size(); ++v) {
        fmt::print("  {:<28} median {:>8.1f} us  (tokens generated {})\n", names[v],
                   median(us[v]), generated[v]);
    }
    const double raw = median(us[0]);
    fmt::print("OVERHEAD per call, LlamaBackend::chat - raw: {:.1f} us (of which decoding the last "
               "token, which a minimal loop skips: {:.1f} us)\n",
               median(us[2]) - raw, median(us[1]) - raw);
    fmt::print("OVERHEAD per call, Client::chat - raw: {:.1f} us\n", median(us[3]) - raw);
    return 0;
}

}  // namespace

int run_generation(const BenchArgs& args) {
    const std::string prompt = read_text(args.prompt_file);
    const std::string short_prompt = read_text(args.short_prompt_file);
    if (prompt.empty() || short_prompt.empty()) {
        fmt::print(stderr, "cannot read the prompts {} and {}\n", args.prompt_file,
                   args.short_prompt_file);
        return 1;
    }
    const int n_ctx = args.ctx > 0 ? args.ctx : 2048;
    fmt::print("model {}\nthreads {}, context {}, batch 512, greedy\n", args.model, args.threads,
               n_ctx);
    print_load("before");

    auto sides = open_sides(args, n_ctx);
    if (!sides) return 1;
    if (int rc = generation_speed(args, *sides, prompt); rc != 0) return rc;
    if (int rc = call_overhead(args, *sides, short_prompt); rc != 0) return rc;
    print_load("after");
    return 0;
}

}  // namespace hyperalign::bench
