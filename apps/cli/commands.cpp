#include "commands.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hyperalign/core/exit_codes.hpp"
#include "hyperalign/core/log.hpp"
#include "hyperalign/data/demonstration_loader.hpp"
#include "hyperalign/llm/cached_backend.hpp"
#include "hyperalign/llm/response_cache.hpp"
#include "progress.hpp"

namespace hyperalign::cli {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

struct Task {
    std::string id;
    std::string prompt;
};

int fail(const Error& e) {
    fmt::print(stderr, "error: {}\n", e.describe());
    return exit_code(e.code);
}

// The model a command talks to: the engine, the response cache in front of it (unless
// --no-cache), and the client every call goes through. Heap-allocated and never moved, since
// each layer refers to the one below.
struct Model {
    std::unique_ptr<llm::Backend> engine;
    std::optional<llm::ResponseCache> cache;
    std::unique_ptr<llm::CachedBackend> cached;
    std::unique_ptr<llm::Client> client;
};

Result<std::unique_ptr<llm::Backend>> open_engine(const ModelArgs& m) {
    llm::LlamaOptions o;
    o.model_path = m.model;
    o.context_size = m.ctx;
    o.threads = m.threads;
    o.chat_template = m.chat_template;
    o.flash_attn = m.flash_attn;
    HA_ASSIGN_OR_RETURN(auto backend, llm::LlamaBackend::open(o));
    return std::unique_ptr<llm::Backend>(std::move(backend));
}

Result<std::unique_ptr<Model>> open_model(const ModelArgs& m) {
    auto model = std::make_unique<Model>();
    HA_ASSIGN_OR_RETURN(model->engine, open_engine(m));
    llm::Backend* top = model->engine.get();
    if (!m.no_cache) {
        const std::filesystem::path path =
            m.cache_path.empty() ? llm::default_cache_path() : std::filesystem::path(m.cache_path);
        HA_ASSIGN_OR_RETURN(auto cache, llm::ResponseCache::open(path));
        model->cache.emplace(std::move(cache));
        model->cached = std::make_unique<llm::CachedBackend>(*top, *model->cache);
        top = model->cached.get();
    }
    model->client = std::make_unique<llm::Client>(*top, llm::ClientOptions{m.max_calls, 1});
    return model;
}

Result<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        Error e = make_error(ErrorCode::not_found, "cannot open file");
        e.file = path;
        return e;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Status write_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!(out << content)) {
        Error e = make_error(ErrorCode::invalid_input, "cannot write file");
        e.file = path;
        return e;
    }
    return {};
}

// Tasks come from a JSONL file of rows with `prompt` (or `task`) and an optional `id`.
Result<std::vector<Task>> read_tasks(const std::string& path) {
    HA_ASSIGN_OR_RETURN(std::string text, read_file(path));
    std::vector<Task> tasks;
    std::istringstream in(text);
    std::string line;
    int line_no = 0;
    auto bad = [&](const std::string& field, const std::string& msg) {
        Error e = make_error(ErrorCode::invalid_input, msg);
        e.file = path;
        e.line = line_no;
        e.field = field;
        return e;
    };
    while (std::getline(in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        Json row = Json::parse(line, nullptr, false);
        if (row.is_discarded())
            return bad("", "malformed JSON");
        if (!row.is_object())
            return bad("", "a task row must be a JSON object");
        const char* key = row.contains("prompt") ? "prompt" : "task";
        if (!row.contains(key) || !row[key].is_string() || row[key].get<std::string>().empty()) {
            return bad("prompt", "missing or empty (give `prompt` or `task` as a string)");
        }
        Task t;
        t.prompt = row[key].get<std::string>();
        t.id = row.contains("id") && row["id"].is_string() ? row["id"].get<std::string>()
                                                           : fmt::format("task:{}", line_no);
        tasks.push_back(std::move(t));
    }
    if (tasks.empty()) {
        Error e = make_error(ErrorCode::invalid_input, "no tasks in the file");
        e.file = path;
        return e;
    }
    return tasks;
}

Json spend_json(const llm::Accounting& a, double wall_ms) {
    Json by = Json::object();
    for (const auto& [purpose, s] : a.by_purpose) {
        by[purpose] = Json{{"calls", s.calls},
                           {"cache_hits", s.cache_hits},
                           {"failures", s.failures},
                           {"tokens_prompt", s.tokens_prompt},
                           {"tokens_prompt_cached", s.tokens_prompt_cached},
                           {"tokens_completion", s.tokens_completion},
                           {"ms", s.ms}};
    }
    auto t = a.total();
    return Json{{"wall_ms", wall_ms},
                {"calls", t.calls},
                {"cache_hits", t.cache_hits},
                {"failures", t.failures},
                {"tokens_prompt", t.tokens_prompt},
                {"tokens_prompt_cached", t.tokens_prompt_cached},
                {"tokens_completion", t.tokens_completion},
                {"by_purpose", by}};
}

// One line per purpose on stderr, then the total: what the run spent.
void print_summary(const llm::Accounting& a, double wall_ms, const llm::ModelInfo& info) {
    fmt::print(stderr, "run: {} via {} in {:.1f} s\n", info.model, info.backend, wall_ms / 1000);
    // "hits" are replies from the response cache; "reused" prompt tokens came from the KV cache.
    fmt::print(stderr, "  {:<22} {:>6} {:>6} {:>6} {:>10} {:>9} {:>9} {:>8}\n", "calls for",
               "calls", "hits", "failed", "tok in", "reused", "tok out", "seconds");
    auto row = [](const std::string& name, const llm::CallStats& s) {
        fmt::print(stderr, "  {:<22} {:>6} {:>6} {:>6} {:>10} {:>9} {:>9} {:>8.1f}\n", name,
                   s.calls, s.cache_hits, s.failures, s.tokens_prompt, s.tokens_prompt_cached,
                   s.tokens_completion, s.ms / 1000);
    };
    for (const auto& [purpose, s] : a.by_purpose)
        row(purpose, s);
    row("total", a.total());
}

void finish_run(const Model& model, Clock::time_point start, const CommonArgs& c) {
    double wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    const llm::Client& client = *model.client;
    auto a = client.accounting();
    Json cache = nullptr;
    if (model.cached) {
        cache = Json{{"path", model.cache->path().string()},
                     {"hits", model.cached->hits()},
                     {"misses", model.cached->misses()}};
    }
    if (!c.quiet) {
        print_summary(a, wall_ms, client.model_info());
        if (model.cached) {
            fmt::print(stderr, "  response cache: {} hits, {} misses ({})\n", model.cached->hits(),
                       model.cached->misses(), model.cache->path().string());
        }
    }
    if (!c.run_log.empty()) {
        const auto& info = client.model_info();
        Json log{{"model", info.model},
                 {"backend", info.backend},
                 {"spend", spend_json(a, wall_ms)},
                 {"cache", cache}};
        auto st = write_file(c.run_log, log.dump(2) + "\n");
        if (!st.ok())
            log::warn("could not write the run log: {}", st.error().describe());
    }
}

learn::ProfileOptions profile_options(const ProfileArgs& p) {
    learn::ProfileOptions o;
    o.person = p.person.empty() ? p.author : p.person;
    o.seed = p.seed;
    o.attributes = !p.no_attributes;
    o.max_tokens_attributes = p.max_tokens_attributes;
    o.max_tokens_contrast = p.max_tokens_contrast;
    o.engine.num_init = p.num_init;
    o.engine.init_batch_size = p.batch_size;
    o.engine.hypotheses_per_batch = p.per_batch;
    o.engine.max_hypotheses = p.max_hypotheses;
    o.engine.k = p.k;
    o.engine.update_batch_size = p.update_batch_size;
    o.engine.max_tokens_predict = p.max_tokens_predict;
    o.engine.max_tokens_generate = p.max_tokens_generate;
    o.engine.sampling.temperature = p.temperature;
    return o;
}

// Texts by other authors of the same source, for --contrast others.
Result<std::vector<Demonstration>> contrast_pool(const ProfileArgs& p) {
    const std::string& source = p.contrast_pool.empty() ? p.examples : p.contrast_pool;
    HA_ASSIGN_OR_RETURN(auto all, data::load_demonstrations(source, {}));
    std::vector<Demonstration> pool;
    for (auto& d : all) {
        std::string author;
        for (const auto& [key, value] : d.metadata) {
            const Json parsed = Json::parse(value, nullptr, false);
            if (key == "author" && parsed.is_string())
                author = parsed.get<std::string>();
        }
        if (p.author.empty() || author != p.author)
            pool.push_back(std::move(d));
    }
    return pool;
}

Result<Profile> learn_profile(llm::Client& client, const ProfileArgs& p, const CommonArgs& c) {
    data::LoadOptions lo;
    if (!p.author.empty())
        lo.author = p.author;
    lo.limit = p.limit;
    HA_ASSIGN_OR_RETURN(auto demos, data::load_demonstrations(p.examples, lo));
    log::info("loaded {} demonstrations from {}", demos.size(), p.examples);

    learn::ProfileOptions options = profile_options(p);
    HA_ASSIGN_OR_RETURN(options.contrast, learn::parse_contrast_source(p.contrast));
    if (options.contrast == learn::ContrastSource::others) {
        HA_ASSIGN_OR_RETURN(options.contrast_pool, contrast_pool(p));
    }
    ProgressPrinter progress(&client, !c.quiet);
    auto profile = learn::build_profile(client, demos, options, std::ref(progress));
    progress.finish();
    return profile;
}

Result<generate::GenerateOptions> generate_options(const GenerateArgs& g) {
    generate::GenerateOptions o;
    HA_ASSIGN_OR_RETURN(o.method, generate::parse_method(g.method));
    o.top_hypotheses = g.top;
    o.sampling.seed = g.seed;
    o.sampling.temperature = g.temperature;
    o.sampling.top_p = g.top_p;
    o.sampling.top_k = g.top_k;
    o.sampling.max_tokens = g.max_tokens;
    o.sampling.stop = g.stop;
    return o;
}

const char* finish_name(llm::FinishReason f) {
    return f == llm::FinishReason::stop ? "stop" : "length";
}

// Writes one task (plain text, or a JSON object with --json) or many (JSONL).
Status write_tasks(llm::Client& client, const Profile& profile, const GenerateArgs& g,
                   const CommonArgs& c) {
    HA_ASSIGN_OR_RETURN(auto options, generate_options(g));
    std::vector<Task> tasks;
    const bool many = !g.tasks_file.empty();
    if (many) {
        HA_ASSIGN_OR_RETURN(tasks, read_tasks(g.tasks_file));
    } else {
        tasks.push_back({"task:1", g.task});
    }

    std::ofstream file;
    if (!g.output.empty()) {
        file.open(g.output, std::ios::binary | std::ios::trunc);
        if (!file) {
            Error e = make_error(ErrorCode::invalid_input, "cannot write file");
            e.file = g.output;
            return e;
        }
    }
    std::ostream& out = g.output.empty() ? std::cout : file;
    ProgressPrinter progress(&client, !c.quiet && many);
    for (size_t i = 0; i < tasks.size(); ++i) {
        progress("generating", i, tasks.size());
        HA_ASSIGN_OR_RETURN(auto reply, generate::write(client, profile, options, tasks[i].prompt));
        if (many || c.json) {
            Json row{{"id", tasks[i].id},
                     {"task", tasks[i].prompt},
                     {"method", generate::to_string(options.method)},
                     {"text", reply.text},
                     {"finish", finish_name(reply.finish)},
                     {"tokens_prompt", reply.usage.tokens_prompt},
                     {"tokens_completion", reply.usage.tokens_completion}};
            out << row.dump() << "\n";
        } else {
            out << reply.text << "\n";
        }
        out.flush();
    }
    progress("generating", tasks.size(), tasks.size());
    progress.finish();
    return {};
}

Status check_one_task_source(const GenerateArgs& g) {
    if (g.task.empty() == g.tasks_file.empty()) {
        return make_error(ErrorCode::invalid_input, "give either a task or --tasks FILE, not both");
    }
    return {};
}

}  // namespace

void add_model_options(CLI::App& app, ModelArgs& m) {
    app.add_option("-m,--model", m.model, "GGUF model file (in-process llama.cpp)")->required();
    app.add_option("--ctx", m.ctx, "context size in tokens (default: the model's training context)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--threads", m.threads, "CPU threads (default: all cores)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--chat-template", m.chat_template,
                   "chat template: built-in name (see chat-templates), 'plain', or template text "
                   "(default: the model's own, else chatml)");
    app.add_option("--flash-attn", m.flash_attn, "flash attention: auto, on or off")
        ->check(CLI::IsMember({"auto", "on", "off"}));
    app.add_flag("--no-cache", m.no_cache,
                 "do not read or write the response cache (by default every model reply is "
                 "cached, so an interrupted run resumes without repeating calls)");
    app.add_option("--cache", m.cache_path,
                   "response cache file (default: " + llm::default_cache_path().string() + ")");
    app.add_option("--max-calls", m.max_calls, "cap on model calls for the run (0: none)")
        ->check(CLI::NonNegativeNumber);
}

void add_profile_options(CLI::App& app, ProfileArgs& p, bool output_required) {
    app.add_option("-e,--examples", p.examples,
                   "the person's texts: a JSONL file, a folder of .txt files, or a dataset name "
                   "(ccat50, cmcc, custom, or <dataset>/<file>)")
        ->required();
    app.add_option("-a,--author", p.author, "keep only rows whose `author` field is this");
    app.add_option("--demos", p.limit, "use at most this many demonstrations (0: all)");
    app.add_option("--seed", p.seed, "seed for position draws and sampling");
    auto* out = app.add_option(output_required ? "-o,--output" : "--profile-out", p.output,
                               "where to write the profile JSON");
    if (output_required)
        out->required();
    app.add_option("--person", p.person, "name recorded in the profile (default: --author)");
    app.add_option("--contrast", p.contrast,
                   "what the person's texts are told apart from: base_model (the model's own "
                   "answers) or others (other authors' texts)")
        ->check(CLI::IsMember({"base_model", "others"}));
    app.add_option("--contrast-pool", p.contrast_pool,
                   "texts for --contrast others (default: the other authors of --examples)");
    app.add_flag("--no-attributes", p.no_attributes, "skip the attribute call");
    app.add_option("--num-init", p.num_init, "rows used to initialise hypotheses (0: all)");
    app.add_option("--batch-size", p.batch_size, "rows per hypothesis-generation prompt")
        ->check(CLI::PositiveNumber);
    app.add_option("--hypotheses-per-batch", p.per_batch, "hypotheses asked for per prompt")
        ->check(CLI::Range(1, 20));
    app.add_option("--max-hypotheses", p.max_hypotheses, "bank size")->check(CLI::PositiveNumber);
    app.add_option("--k", p.k,
                   "online phase: hypotheses tested per row, best by reward (-1: all); the "
                   "online phase runs on the rows after --num-init");
    app.add_option("--update-batch-size", p.update_batch_size,
                   "online phase: hard rows that trigger a new generation prompt")
        ->check(CLI::PositiveNumber);
    app.add_option("--learn-temperature", p.temperature, "sampling temperature while learning");
    app.add_option("--max-tokens-predict", p.max_tokens_predict, "reply tokens per scoring call")
        ->check(CLI::PositiveNumber);
    app.add_option("--max-tokens-hypotheses", p.max_tokens_generate,
                   "reply tokens per hypothesis-generation call")
        ->check(CLI::PositiveNumber);
    app.add_option("--max-tokens-attributes", p.max_tokens_attributes, "reply tokens, attributes")
        ->check(CLI::PositiveNumber);
    app.add_option("--max-tokens-contrast", p.max_tokens_contrast, "reply tokens per contrast")
        ->check(CLI::PositiveNumber);
}

void add_generate_options(CLI::App& app, GenerateArgs& g, bool with_profile) {
    if (with_profile) {
        app.add_option("-p,--profile", g.profile, "profile JSON written by `profile`")->required();
        app.add_option("--seed", g.seed, "sampling seed");
    }
    app.add_option("--method", g.method,
                   "zero_shot, few_shot, attributes, hypotheses or hyperalign")
        ->check(CLI::IsMember({"zero_shot", "few_shot", "attributes", "hypotheses", "hyperalign"}));
    app.add_option("--top", g.top, "hypotheses given to the model")->check(CLI::PositiveNumber);
    app.add_option("--temperature", g.temperature, "0 for greedy decoding");
    app.add_option("--top-p", g.top_p, "nucleus sampling threshold");
    app.add_option("--top-k", g.top_k, "top-k sampling (0: off)");
    app.add_option("--max-tokens", g.max_tokens, "reply token limit")->check(CLI::PositiveNumber);
    app.add_option("--stop", g.stop, "stop string (repeatable)");
    app.add_option("task", g.task, "the task to write, e.g. \"Write an email declining ...\"");
    app.add_option("--tasks", g.tasks_file, "JSONL of tasks (`prompt`, optional `id`); JSONL out");
    app.add_option(with_profile ? "-o,--output" : "--text-out", g.output,
                   "where to write the text(s) (default: stdout)");
}

void add_common_options(CLI::App& app, CommonArgs& c) {
    app.add_flag("--json", c.json, "machine-readable output on stdout");
    app.add_flag("-q,--quiet", c.quiet, "no progress or summary on stderr");
    app.add_option("--run-log", c.run_log, "write the run's calls, tokens and timings as JSON");
}

int run_profile(const ModelArgs& m, const ProfileArgs& p, const CommonArgs& c) {
    auto start = Clock::now();
    auto model = open_model(m);
    if (!model.ok())
        return fail(model.error());
    auto profile = learn_profile(*(*model)->client, p, c);
    finish_run(**model, start, c);
    if (!profile.ok())
        return fail(profile.error());
    if (auto st = write_file(p.output, to_json(*profile)); !st.ok())
        return fail(st.error());
    if (c.json) {
        Json summary{{"profile", p.output},
                     {"hypotheses", profile->hypotheses.size()},
                     {"demonstrations", profile->demonstrations.size()},
                     {"texts_cut", profile->provenance.texts_cut}};
        std::cout << summary.dump() << "\n";
    } else if (!c.quiet) {
        fmt::print(stderr, "wrote {} ({} hypotheses from {} demonstrations)\n", p.output,
                   profile->hypotheses.size(), profile->demonstrations.size());
    }
    return 0;
}

int run_generate(const ModelArgs& m, const GenerateArgs& g, const CommonArgs& c) {
    auto start = Clock::now();
    if (auto st = check_one_task_source(g); !st.ok())
        return fail(st.error());
    auto text = read_file(g.profile);
    if (!text.ok())
        return fail(text.error());
    auto profile = profile_from_json(*text, g.profile);
    if (!profile.ok())
        return fail(profile.error());
    auto model = open_model(m);
    if (!model.ok())
        return fail(model.error());
    auto st = write_tasks(*(*model)->client, *profile, g, c);
    finish_run(**model, start, c);
    return st.ok() ? 0 : fail(st.error());
}

int run_personalize(const ModelArgs& m, const ProfileArgs& p, GenerateArgs g, const CommonArgs& c) {
    auto start = Clock::now();
    if (auto st = check_one_task_source(g); !st.ok())
        return fail(st.error());
    auto model = open_model(m);
    if (!model.ok())
        return fail(model.error());
    llm::Client& client = *(*model)->client;
    auto profile = learn_profile(client, p, c);
    if (!profile.ok()) {
        finish_run(**model, start, c);
        return fail(profile.error());
    }
    if (!p.output.empty()) {
        if (auto st = write_file(p.output, to_json(*profile)); !st.ok())
            return fail(st.error());
        if (!c.quiet)
            fmt::print(stderr, "wrote {}\n", p.output);
    }
    g.seed = p.seed;
    auto st = write_tasks(client, *profile, g, c);
    finish_run(**model, start, c);
    return st.ok() ? 0 : fail(st.error());
}

int run_chat_templates() {
    for (const auto& name : llm::builtin_chat_templates())
        std::cout << name << "\n";
    return 0;
}

}  // namespace hyperalign::cli
