#include "commands.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "files.hpp"
#include "hyperalign/core/exit_codes.hpp"
#include "hyperalign/core/log.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/data/demonstration_loader.hpp"
#include "hyperalign/llm/cached_backend.hpp"
#include "hyperalign/llm/openai_backend.hpp"
#include "hyperalign/llm/response_cache.hpp"
#include "hyperalign/store/profile_store.hpp"
#include "progress.hpp"

namespace hyperalign::cli {

std::atomic<bool>& interrupted() {
    static std::atomic<bool> flag{false};
    return flag;
}

namespace {

using Json = nlohmann::ordered_json;

// Serialises for output; invalid UTF-8 (which the library never returns, but a path or argument
// could hold) becomes U+FFFD instead of an exception.
std::string dump(const Json& j, int indent = -1) {
    return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}
using Clock = std::chrono::steady_clock;

struct Task {
    std::string id;
    std::string prompt;
};

int fail(const Error& e) {
    fmt::print(stderr, "error: {}\n", e.describe());
    return exit_code(e.code);
}

// Tasks come from a JSONL file of rows with `prompt` (or `task`) and an optional `id`.
Result<std::vector<Task>> read_tasks(const std::string& path) {
    if (std::filesystem::is_directory(path)) {
        Error e = make_error(ErrorCode::invalid_input, "is a folder, not a JSONL file of tasks");
        e.file = path;
        return e;
    }
    HA_ASSIGN_OR_RETURN(std::string text, read_file(path));
    std::vector<Task> tasks;
    std::set<std::string> ids;
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
        size_t bad_byte = 0;
        if (!text::is_valid_utf8(line, &bad_byte)) {
            return bad("", fmt::format("invalid UTF-8 at byte column {}", bad_byte + 1));
        }
        Json row = Json::parse(line, nullptr, false);
        if (row.is_discarded())
            return bad("", "malformed JSON");
        if (!row.is_object())
            return bad("", "a task row must be a JSON object");
        const char* key = row.contains("prompt") ? "prompt" : "task";
        if (!row.contains(key))
            return bad("prompt", "missing (give `prompt` or `task`)");
        if (!row[key].is_string())
            return bad(key, std::string("must be a string, found ") + row[key].type_name());
        if (text::trim(row[key].get<std::string>()).empty())
            return bad(key, "is empty");
        Task t;
        t.prompt = row[key].get<std::string>();
        if (row.contains("id") && row["id"].is_string()) {
            t.id = row["id"].get<std::string>();
        } else if (row.contains("id") && row["id"].is_number_integer()) {
            t.id = row["id"].dump();
        } else if (row.contains("id") && !row["id"].is_null()) {
            return bad("id", std::string("must be a string or an integer, found ") +
                                 row["id"].type_name());
        } else {
            t.id = fmt::format("task:{}", line_no);
        }
        if (!ids.insert(t.id).second)
            return bad("id", fmt::format("'{}' is used by an earlier row", t.id));
        tasks.push_back(std::move(t));
    }
    if (tasks.empty()) {
        Error e = make_error(ErrorCode::invalid_input, "no tasks in the file");
        e.file = path;
        return e;
    }
    return tasks;
}

}  // namespace

Status check_writable(const std::string& path) {
    namespace fs = std::filesystem;
    if (path.empty())
        return {};
    Error e = make_error(ErrorCode::invalid_input, "");
    e.file = path;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        e.message = "is a folder; give a file path";
        return e;
    }
    fs::path parent = fs::path(path).parent_path();
    if (parent.empty())
        parent = ".";
    if (!fs::is_directory(parent, ec)) {
        e.message = fmt::format("its folder {} does not exist", parent.string());
        return e;
    }
    if (::access(parent.c_str(), W_OK) != 0 && !fs::exists(path, ec)) {
        e.message = fmt::format("its folder {} is not writable", parent.string());
        return e;
    }
    return {};
}

namespace {

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
    if (!c.quiet && a.total().calls > 0) {
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
        auto st = write_file(c.run_log, dump(log, 2) + "\n");
        if (!st.ok())
            log::warn("could not write the run log: {}", st.error().describe());
    }
}

learn::ProfileOptions profile_options(const ProfileArgs& p) {
    learn::ProfileOptions o;
    o.person = !p.user.empty() ? p.user : p.person.empty() ? p.author : p.person;
    o.reinfer_attributes = p.reinfer_attributes;
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

// The person's texts from --examples, with --author and --demos applied.
Result<std::vector<Demonstration>> load_person_texts(const ProfileArgs& p) {
    data::LoadOptions lo;
    if (!p.author.empty())
        lo.author = p.author;
    lo.limit = p.limit;
    HA_ASSIGN_OR_RETURN(auto demos, data::load_demonstrations(p.examples, lo));
    log::info("loaded {} demonstrations from {}", demos.size(), p.examples);
    if (p.author.empty()) {
        std::set<std::string> authors;
        for (const auto& d : demos) {
            for (const auto& [key, value] : d.metadata) {
                if (key == "author")
                    authors.insert(value);
            }
        }
        if (authors.size() > 1) {
            log::warn(
                "the texts come from {} different authors; a profile describes one person "
                "(pick one with --author)",
                authors.size());
        }
    }
    return demos;
}

Result<learn::ProfileOptions> learning_options(const ProfileArgs& p) {
    learn::ProfileOptions options = profile_options(p);
    HA_ASSIGN_OR_RETURN(options.contrast, learn::parse_contrast_source(p.contrast));
    if (options.contrast == learn::ContrastSource::others) {
        HA_ASSIGN_OR_RETURN(options.contrast_pool, contrast_pool(p));
    }
    return options;
}

Result<Profile> learn_profile(llm::Client& client, const ProfileArgs& p, const CommonArgs& c) {
    HA_ASSIGN_OR_RETURN(auto demos, load_person_texts(p));
    HA_ASSIGN_OR_RETURN(auto options, learning_options(p));
    ProgressPrinter progress(&client, !c.quiet);
    auto profile = learn::build_profile(client, demos, options, std::ref(progress));
    progress.finish();
    return profile;
}

Result<generate::GenerateOptions> generate_options(const GenerateArgs& g) {
    generate::GenerateOptions o;
    HA_ASSIGN_OR_RETURN(o.method, generate::parse_method(g.method));
    o.top_hypotheses = g.top;
    HA_ASSIGN_OR_RETURN(o.selection, generate::parse_selection(g.select));
    o.relevance_pool = g.relevance_pool;
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

// The tasks of a generate or personalize command, read and checked before any model call.
Result<std::vector<Task>> load_tasks(const GenerateArgs& g) {
    if (!g.tasks_file.empty() && !g.task.empty()) {
        return make_error(ErrorCode::invalid_input, "give either a task or --tasks FILE, not both");
    }
    HA_TRY(check_writable(g.output));
    if (!g.tasks_file.empty())
        return read_tasks(g.tasks_file);
    if (!text::is_valid_utf8(g.task))
        return make_error(ErrorCode::invalid_input, "the task is not valid UTF-8");
    if (text::trim(g.task).empty())
        return make_error(ErrorCode::invalid_input, "the task is empty");
    return std::vector<Task>{{"task:1", g.task}};
}

// Writes one task (plain text, or a JSON object with --json) or many (JSONL). Each result is
// flushed as soon as it is written, so an interrupted run keeps what it finished.
Status write_tasks(llm::Client& client, const Profile& profile, const GenerateArgs& g,
                   const std::vector<Task>& tasks, const CommonArgs& c) {
    HA_ASSIGN_OR_RETURN(auto options, generate_options(g));
    const bool many = !g.tasks_file.empty();
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
    // Streaming prints plain text as it comes; JSON output needs the whole reply first.
    const bool stream = g.stream && !many && !c.json;
    if (stream) {
        options.on_text = [&out](std::string_view piece) {
            out << piece;
            out.flush();
        };
    }
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
            out << dump(row) << "\n";
        } else {
            out << (stream ? "" : reply.text) << "\n";
        }
        out.flush();
        if (!out) {
            Error e = make_error(ErrorCode::invalid_input, "writing the output failed");
            e.file = g.output.empty() ? "stdout" : g.output;
            return e;
        }
    }
    progress("generating", tasks.size(), tasks.size());
    progress.finish();
    return {};
}

// Validators with messages a person can act on (CLI11's own print ranges of 300 digits).
double parse_number(const std::string& s, bool& ok) {
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    ok = end != s.c_str() && *end == '\0' && std::isfinite(v);
    return v;
}

const CLI::Validator kCount(
    [](std::string& s) -> std::string {
        bool ok = false;
        double v = parse_number(s, ok);
        return ok && v >= 1 && v == std::floor(v) ? "" : "must be a whole number of at least 1";
    },
    "N>=1");
const CLI::Validator kCountOrZero(
    [](std::string& s) -> std::string {
        bool ok = false;
        double v = parse_number(s, ok);
        return ok && v >= 0 && v == std::floor(v) ? "" : "must be a whole number of at least 0";
    },
    "N>=0");
const CLI::Validator kTemperature(
    [](std::string& s) -> std::string {
        bool ok = false;
        double v = parse_number(s, ok);
        return ok && v >= 0 && v <= 100 ? "" : "must be a number from 0 to 100";
    },
    "T>=0");
const CLI::Validator kProbability(
    [](std::string& s) -> std::string {
        bool ok = false;
        double v = parse_number(s, ok);
        return ok && v > 0 && v <= 1 ? "" : "must be a number above 0 and at most 1";
    },
    "0<P<=1");

}  // namespace

Result<std::unique_ptr<llm::Backend>> open_engine(const ModelArgs& m) {
    if (!m.base_url.empty()) {
        llm::OpenAiOptions o;
        o.base_url = m.base_url;
        o.model = m.model;
        o.api_key_env = m.api_key_env;
        HA_ASSIGN_OR_RETURN(o.json_mode, llm::parse_json_mode(m.json_mode));
        o.max_concurrency = m.max_concurrency;
        o.requests_per_second = m.requests_per_second;
        o.max_retries = m.max_retries;
        o.read_timeout = std::chrono::milliseconds(int64_t(m.read_timeout_s * 1000));
        o.context_size = m.ctx;
        HA_ASSIGN_OR_RETURN(auto backend, llm::OpenAiBackend::open(o));
        return std::unique_ptr<llm::Backend>(std::move(backend));
    }
    if (m.model.empty()) {
        return make_error(ErrorCode::invalid_input,
                          "name a model: --model FILE.gguf, or --base-url URL [--model NAME]");
    }
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
    model->client =
        std::make_unique<llm::Client>(*top, llm::ClientOptions{m.max_calls, 1, &interrupted()});
    return model;
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

void add_model_options(CLI::App& app, ModelArgs& m) {
    app.add_option("-m,--model", m.model,
                   "a GGUF file (run in-process), or with --base-url the served model's name");
    app.add_option("--base-url", m.base_url,
                   "an OpenAI-compatible server's API root, e.g. http://127.0.0.1:8080/v1 "
                   "(llama-server, vLLM, Ollama, OpenAI...)");
    app.add_option("--api-key-env", m.api_key_env,
                   "environment variable holding the server's API key (default OPENAI_API_KEY)");
    app.add_option("--json-mode", m.json_mode,
                   "structured replies over HTTP: schema (response_format), prompted (the schema "
                   "in the prompt, reply extracted), or auto (probe the server; default)")
        ->check(CLI::IsMember({"auto", "schema", "prompted"}));
    app.add_option("--max-concurrency", m.max_concurrency, "HTTP requests in flight at once")
        ->check(kCount);
    app.add_option("--requests-per-second", m.requests_per_second,
                   "HTTP request rate limit (0: none)")
        ->check(CLI::Range(0.0, 1e6));
    app.add_option("--max-retries", m.max_retries, "HTTP retries on 429, 5xx and lost connections")
        ->check(kCountOrZero);
    app.add_option("--read-timeout", m.read_timeout_s, "seconds an HTTP server may stay silent")
        ->check(CLI::Range(0.1, 86400.0));
    app.add_option("--ctx", m.ctx, "context size in tokens (default: the model's training context)")
        ->check(kCountOrZero);
    app.add_option("--threads", m.threads, "CPU threads (default: all cores)")->check(kCountOrZero);
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
        ->check(kCountOrZero);
}

void add_profile_options(CLI::App& app, ProfileArgs& p, bool output_required) {
    app.add_option("-e,--examples", p.examples,
                   "the person's texts: a JSONL file, a folder of .txt files, or a dataset name "
                   "(ccat50, cmcc, custom, or <dataset>/<file>)")
        ->required();
    app.add_option("-a,--author", p.author, "keep only rows whose `author` field is this");
    app.add_option("--demos", p.limit, "use at most this many demonstrations (0: all)")
        ->check(kCountOrZero);
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
    app.add_option("--num-init", p.num_init,
                   "texts that initialise the hypotheses; the rest go through the online phase (0: "
                   "automatic: all when fewer than twice --batch-size, else half)")
        ->check(kCountOrZero);
    app.add_option("--batch-size", p.batch_size, "rows per hypothesis-generation prompt")
        ->check(kCount);
    app.add_option("--hypotheses-per-batch", p.per_batch, "hypotheses asked for per prompt")
        ->check(CLI::Range(1, 20));
    app.add_option("--max-hypotheses", p.max_hypotheses,
                   "bank size kept when the online phase replaces hypotheses (the initial bank "
                   "keeps every hypothesis, as in HypoGenic)")
        ->check(kCount);
    app.add_option("--k", p.k,
                   "online phase: hypotheses tested per row, best by reward (-1: all); the "
                   "online phase runs on the rows after --num-init");
    app.add_option("--update-batch-size", p.update_batch_size,
                   "online phase: hard rows that trigger a new generation prompt")
        ->check(kCount);
    app.add_option("--learn-temperature", p.temperature, "sampling temperature while learning")
        ->check(kTemperature);
    app.add_option("--max-tokens-predict", p.max_tokens_predict, "reply tokens per scoring call")
        ->check(kCount);
    app.add_option("--max-tokens-hypotheses", p.max_tokens_generate,
                   "reply tokens per hypothesis-generation call")
        ->check(kCount);
    app.add_option("--max-tokens-attributes", p.max_tokens_attributes, "reply tokens, attributes")
        ->check(kCount);
    app.add_option("--max-tokens-contrast", p.max_tokens_contrast, "reply tokens per contrast")
        ->check(kCount);
}

CLI::App* add_profile_store_options(CLI::App& profile, ProfileArgs& p) {
    profile.get_option("--output")->required(false);
    profile.get_option("--examples")->required(false);
    profile.add_option("--user", p.user,
                       "keep the profile in the store as this person's next version (then -o is "
                       "optional)");
    profile.add_option("--store", p.store, "profile store file (default: the user's)");
    auto* update = profile.add_subcommand(
        "update",
        "Continue --user's latest stored profile with new texts (--examples) and store the next "
        "version; hypotheses the person pinned or added are kept, removed ones never return. "
        "Takes the options of `profile` (--model, --examples, --store, ...)");
    update->fallthrough();
    update->add_flag("--reinfer-attributes", p.reinfer_attributes,
                     "infer the attributes again over every text (default: keep them)");
    return update;
}

void add_generate_options(CLI::App& app, GenerateArgs& g, bool with_profile) {
    if (with_profile) {
        app.add_option("-p,--profile", g.profile, "profile JSON written by `profile`")->required();
        app.add_option("--seed", g.seed, "sampling seed");
    }
    app.add_option("--method", g.method,
                   "zero_shot, few_shot, attributes, hypotheses or hyperalign")
        ->check(CLI::IsMember({"zero_shot", "few_shot", "attributes", "hypotheses", "hyperalign"}));
    app.add_option("--top", g.top, "hypotheses given to the model")->check(kCount);
    app.add_option("--select", g.select,
                   "how the hypotheses are chosen: top (by accuracy) or relevance (of the "
                   "--relevance-pool best, those a model call judges relevant to the task)")
        ->check(CLI::IsMember({"top", "relevance"}));
    app.add_option("--relevance-pool", g.relevance_pool,
                   "with --select relevance, how many of the best are judged (1 to 100)")
        ->check(CLI::Range(1, 100));
    app.add_option("--temperature", g.temperature, "0 for greedy decoding")->check(kTemperature);
    app.add_option("--top-p", g.top_p, "nucleus sampling threshold, in (0, 1]")
        ->check(kProbability);
    app.add_option("--top-k", g.top_k, "top-k sampling (0: off)")->check(kCountOrZero);
    app.add_option("--max-tokens", g.max_tokens, "reply token limit")->check(kCount);
    app.add_option("--stop", g.stop, "stop string (repeat the option for several)")
        ->allow_extra_args(false);
    app.add_option("task", g.task, "the task to write, e.g. \"Write an email declining ...\"");
    app.add_flag("--stream", g.stream, "print the text as it is generated (one task, no --json)");
    app.add_option("--tasks", g.tasks_file, "JSONL of tasks (`prompt`, optional `id`); JSONL out");
    app.add_option(with_profile ? "-o,--output" : "--text-out", g.output,
                   "where to write the text(s) (default: stdout)");
}

void add_common_options(CLI::App& app, CommonArgs& c) {
    app.add_flag("--json", c.json, "machine-readable output on stdout");
    app.add_flag("-q,--quiet", c.quiet, "no progress or summary on stderr");
    app.add_option("--run-log", c.run_log, "write the run's calls, tokens and timings as JSON");
}

// Checks what can be checked before any model call, so that a mistake never costs a run.
Status check_profile_args(const ProfileArgs& p, const std::string& output) {
    for (const std::string* arg : {&p.person, &p.author}) {
        if (!text::is_valid_utf8(*arg))
            return make_error(ErrorCode::invalid_input, "--person and --author must be UTF-8");
    }
    if (!p.contrast_pool.empty() && p.contrast != "others")
        log::warn("--contrast-pool is used only with --contrast others; ignoring it");
    return check_writable(output);
}

int usage_error(const std::string& message) {
    fmt::print(stderr, "error: {}\n", message);
    return kExitUsage;
}

bool no_task(const GenerateArgs& g) {
    return g.task.empty() && g.tasks_file.empty();
}

// The profile store of --store, else the user's default one; nullopt without --user.
Result<std::optional<store::ProfileStore>> open_store(const ProfileArgs& p) {
    if (p.user.empty())
        return std::optional<store::ProfileStore>();
    if (!text::is_valid_utf8(p.user))
        return make_error(ErrorCode::invalid_input, "--user must be UTF-8");
    if (!p.person.empty() && p.person != p.user)
        return make_error(ErrorCode::invalid_input, "--person and --user name different people");
    std::filesystem::path path = p.store;
    if (path.empty()) {
        HA_ASSIGN_OR_RETURN(path, store::ProfileStore::default_path());
    }
    HA_ASSIGN_OR_RETURN(auto opened, store::ProfileStore::open(path));
    return std::optional<store::ProfileStore>(std::move(opened));
}

// Records how a run for the person ended; a failure to record is a warning, not the run's.
void record_outcome(store::ProfileStore& s, Result<int64_t>& run, const Status& outcome,
                    const Json& summary) {
    Status st = run.ok() ? s.finish_run(*run, outcome.ok() ? "ok" : "failed", dump(summary))
                         : Status(run.error());
    if (!st.ok())
        log::warn("the run is not recorded in the profile store: {}", st.error().describe());
}

int run_profile(const ModelArgs& m, const ProfileArgs& p, const CommonArgs& c) {
    auto start = Clock::now();
    if (p.output.empty() && p.user.empty())
        return usage_error("give -o FILE, or --user NAME to keep the profile in the store");
    if (p.examples.empty())
        return usage_error("--examples is required");
    if (auto st = check_profile_args(p, p.output); !st.ok())
        return fail(st.error());
    auto store = open_store(p);
    if (!store.ok())
        return fail(store.error());
    auto model = open_model(m);
    if (!model.ok())
        return fail(model.error());
    Result<int64_t> run = *store ? (*store)->record_run(p.user, "profile") : Result<int64_t>(0);
    auto profile = learn_profile(*(*model)->client, p, c);
    finish_run(**model, start, c);
    if (!profile.ok()) {
        if (*store)
            record_outcome(**store, run, profile.error(), Json{{"error", profile.error().message}});
        return fail(profile.error());
    }
    if (!p.output.empty()) {
        if (auto st = write_file(p.output, to_json(*profile)); !st.ok())
            return fail(st.error());
    }
    Json summary{{"profile", p.output},
                 {"hypotheses", profile->hypotheses.size()},
                 {"demonstrations", profile->demonstrations.size()},
                 {"texts_cut", profile->provenance.texts_cut}};
    if (*store) {
        // Events of this build belong to the version it is stored as.
        auto previous = (*store)->latest(p.user);
        profile->version = previous.ok() ? previous->version + 1 : 1;
        for (auto& e : profile->history)
            e.version = profile->version;
        auto version = (*store)->put_profile(*profile);
        if (!version.ok())
            return fail(version.error());
        summary["user"] = p.user;
        summary["version"] = *version;
        summary["store"] = (*store)->path().string();
        record_outcome(**store, run, {}, summary);
    }
    if (c.json) {
        std::cout << dump(summary) << "\n";
    } else if (!c.quiet) {
        const std::string where =
            *store ? fmt::format("version {} of '{}' in {}", summary["version"].get<int>(), p.user,
                                 (*store)->path().string())
                   : p.output;
        fmt::print(stderr, "wrote {} ({} hypotheses from {} demonstrations)\n", where,
                   profile->hypotheses.size(), profile->demonstrations.size());
    }
    return 0;
}

// What an update changed, from the history events of its version.
Json update_changes(const Profile& profile) {
    Json added = Json::array();
    Json dropped = Json::array();
    for (const auto& e : profile.history) {
        if (e.version != profile.version)
            continue;
        if (e.kind == "added")
            added.push_back(e.text);
        if (e.kind == "dropped")
            dropped.push_back(e.text);
    }
    return Json{{"added", added}, {"dropped", dropped}};
}

int run_profile_update(const ModelArgs& m, const ProfileArgs& p, const CommonArgs& c) {
    auto start = Clock::now();
    if (p.user.empty())
        return usage_error("profile update needs --user NAME: whose stored profile to continue");
    if (p.examples.empty())
        return usage_error("--examples is required: the new texts");
    if (auto st = check_profile_args(p, p.output); !st.ok())
        return fail(st.error());
    auto store = open_store(p);
    if (!store.ok())
        return fail(store.error());
    store::ProfileStore& s = **store;
    auto previous = s.latest(p.user);
    if (!previous.ok())
        return fail(previous.error());
    auto demos = load_person_texts(p);
    if (!demos.ok())
        return fail(demos.error());
    auto options = learning_options(p);
    if (!options.ok())
        return fail(options.error());
    auto model = open_model(m);
    if (!model.ok())
        return fail(model.error());

    llm::Client& client = *(*model)->client;
    auto run = s.record_run(p.user, "profile update");
    ProgressPrinter progress(&client, !c.quiet);
    auto profile = learn::update_profile(client, *previous, *demos, *options, std::ref(progress));
    progress.finish();
    finish_run(**model, start, c);
    if (!profile.ok()) {
        record_outcome(s, run, profile.error(), Json{{"error", profile.error().message}});
        return fail(profile.error());
    }
    auto version = s.put_profile(*profile);
    if (!version.ok())
        return fail(version.error());
    if (!p.output.empty()) {
        if (auto st = write_file(p.output, to_json(*profile)); !st.ok())
            return fail(st.error());
    }
    Json changes = update_changes(*profile);
    const size_t added_texts = profile->demonstrations.size() - previous->demonstrations.size();
    Json summary{{"user", p.user},
                 {"version", *version},
                 {"store", s.path().string()},
                 {"demonstrations", profile->demonstrations.size()},
                 {"new_demonstrations", added_texts},
                 {"hypotheses", profile->hypotheses.size()},
                 {"added", changes["added"]},
                 {"dropped", changes["dropped"]}};
    record_outcome(s, run, {}, summary);
    if (c.json) {
        std::cout << dump(summary) << "\n";
        return 0;
    }
    fmt::print("stored version {} of '{}' in {}: {} new texts, {} in all\n", *version, p.user,
               s.path().string(), added_texts, profile->demonstrations.size());
    for (const auto& text : changes["added"])
        fmt::print("  added:   {}\n", text.get<std::string>());
    for (const auto& text : changes["dropped"])
        fmt::print("  dropped: {}\n", text.get<std::string>());
    if (changes["added"].empty() && changes["dropped"].empty())
        fmt::print("  no hypothesis added or dropped\n");
    return 0;
}

int run_generate(const ModelArgs& m, const GenerateArgs& g, const CommonArgs& c) {
    auto start = Clock::now();
    if (no_task(g))
        return usage_error("no task given: pass the task as an argument, or --tasks FILE");
    auto tasks = load_tasks(g);
    if (!tasks.ok())
        return fail(tasks.error());
    if (std::filesystem::is_directory(g.profile)) {
        Error e = make_error(ErrorCode::invalid_input, "is a folder, not a profile file");
        e.file = g.profile;
        return fail(e);
    }
    auto text = read_file(g.profile);
    if (!text.ok())
        return fail(text.error());
    auto profile = profile_from_json(*text, g.profile);
    if (!profile.ok())
        return fail(profile.error());
    auto model = open_model(m);
    if (!model.ok())
        return fail(model.error());
    auto st = write_tasks(*(*model)->client, *profile, g, *tasks, c);
    finish_run(**model, start, c);
    return st.ok() ? 0 : fail(st.error());
}

int run_personalize(const ModelArgs& m, const ProfileArgs& p, GenerateArgs g, const CommonArgs& c) {
    auto start = Clock::now();
    if (no_task(g))
        return usage_error("no task given: pass the task as an argument, or --tasks FILE");
    auto tasks = load_tasks(g);
    if (!tasks.ok())
        return fail(tasks.error());
    if (auto st = check_profile_args(p, p.output); !st.ok())
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
    auto st = write_tasks(client, *profile, g, *tasks, c);
    finish_run(**model, start, c);
    return st.ok() ? 0 : fail(st.error());
}

int run_chat_templates() {
    for (const auto& name : llm::builtin_chat_templates())
        std::cout << name << "\n";
    return 0;
}

}  // namespace hyperalign::cli
