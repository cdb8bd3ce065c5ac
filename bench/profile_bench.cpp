#include <cstdio>

#include <fmt/format.h>

#include "bench.hpp"
#include "hyperalign/data/demonstration_loader.hpp"
#include "hyperalign/learn/profile_builder.hpp"
#include "hyperalign/llm/client.hpp"
#include "hyperalign/llm/llama_backend.hpp"

namespace hyperalign::bench {
namespace {

learn::ProfileOptions profile_options(const BenchArgs& args) {
    learn::ProfileOptions o;
    o.person = args.author;
    o.max_tokens_attributes = args.max_tokens_attributes;
    o.max_tokens_contrast = args.max_tokens_contrast;
    o.engine.hypotheses_per_batch = args.per_batch;
    o.engine.max_hypotheses = args.max_hypotheses;
    o.engine.max_tokens_generate = args.max_tokens_generate;
    o.engine.max_tokens_predict = args.max_tokens_predict;
    return o;
}

void print_options(const learn::ProfileOptions& o, size_t n_demos) {
    const learn::EngineOptions& e = o.engine;
    fmt::print("options: demonstrations {}, contrast base_model, attributes {}, hypotheses {}\n",
               n_demos, o.attributes, o.hypotheses);
    fmt::print(
        "  num_init {} (0: all), init_batch_size {}, hypotheses_per_batch {}, "
        "max_hypotheses {}, alpha {}\n",
        e.num_init, e.init_batch_size, e.hypotheses_per_batch, e.max_hypotheses, e.alpha);
    fmt::print("  max_tokens: attributes {}, contrast {}, generate {}, predict {}\n",
               o.max_tokens_attributes, o.max_tokens_contrast, e.max_tokens_generate,
               e.max_tokens_predict);
    fmt::print("  sampling: temperature {}, seed {}\n", e.sampling.temperature, o.seed);
}

void print_row(const std::string& name, const llm::CallStats& s) {
    fmt::print("  {:<22} {:>6} {:>6} {:>10} {:>10} {:>9.2f}\n", name, s.calls, s.failures,
               s.tokens_prompt, s.tokens_completion, s.ms / 1000);
}

}  // namespace

int run_profile(const BenchArgs& args) {
    const int n_ctx = args.ctx > 0 ? args.ctx : 4096;
    fmt::print("model {}\nthreads {}, context {}, chat template {}\n", args.model, args.threads,
               n_ctx, args.chat_template.empty() ? "default" : args.chat_template);
    print_load("before");

    data::LoadOptions load;
    load.author = args.author;
    auto demos = data::load_demonstrations(args.dataset, load);
    if (!demos.ok()) {
        fmt::print(stderr, "cannot load {}: {}\n", args.dataset, demos.error().describe());
        return 1;
    }

    const auto open_started = Clock::now();
    llm::LlamaOptions model;
    model.model_path = args.model;
    model.threads = args.threads;
    model.context_size = n_ctx;
    model.chat_template = args.chat_template;
    auto backend = llm::LlamaBackend::open(model);
    if (!backend.ok()) {
        fmt::print(stderr, "cannot open the model: {}\n", backend.error().describe());
        return 1;
    }
    const double ms_open = ms_between(open_started, Clock::now());

    const learn::ProfileOptions options = profile_options(args);
    fmt::print("\n[3] profile of {} from {} ({} demonstrations)\n", args.author, args.dataset,
               demos->size());
    print_options(options, demos->size());

    // Warnings from the build (cut or unusable replies) go to stderr; show the options first.
    std::fflush(stdout);
    llm::Client client(**backend);
    const auto started = Clock::now();
    auto profile = learn::build_profile(client, *demos, options);
    const double ms_build = ms_between(started, Clock::now());

    // The spending is printed even when the build fails: it is what the run cost.
    const llm::Accounting spend = client.accounting();
    fmt::print("  {:<22} {:>6} {:>6} {:>10} {:>10} {:>9}\n", "purpose", "calls", "failed", "tok in",
               "tok out", "seconds");
    for (const auto& [purpose, stats] : spend.by_purpose)
        print_row(purpose, stats);
    print_row("total", spend.total());
    const auto total = spend.total();
    fmt::print(
        "PROFILE wall {:.2f} s (model load {:.2f} s not included), {} calls, {} tokens "
        "({} in, {} out)\n",
        ms_build / 1000, ms_open / 1000, total.calls, total.tokens_prompt + total.tokens_completion,
        total.tokens_prompt, total.tokens_completion);
    if (!profile.ok()) {
        fmt::print("build_profile FAILED: {}\n", profile.error().describe());
        print_load("after");
        return 1;
    }
    fmt::print("profile: {} hypotheses, attributes {}, {} texts cut to fit the context\n",
               profile->hypotheses.size(), profile->attributes.empty() ? "none" : "present",
               profile->provenance.texts_cut);
    print_load("after");
    return 0;
}

}  // namespace hyperalign::bench
