#include "eval_command.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "files.hpp"
#include "hyperalign/core/exit_codes.hpp"
#include "hyperalign/core/log.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/eval/authorship.hpp"
#include "hyperalign/eval/report.hpp"
#include "hyperalign/eval/safety.hpp"
#include "progress.hpp"

namespace hyperalign::cli {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

int fail_with(const Error& e) {
    fmt::print(stderr, "error: {}\n", e.describe());
    return exit_code(e.code);
}

int fail_usage(const Error& e) {
    fmt::print(stderr, "error: {}\nRun with --help for more information.\n", e.message);
    return kExitUsage;
}

// The two models of an evaluation; the judge shares the generator's when both name the same.
struct Models {
    std::unique_ptr<Model> generator;
    std::unique_ptr<Model> judge_own;
    Model* judge = nullptr;
};

Result<Models> open_models(const EvalArgs& a, const char* first) {
    if (a.generator.empty() && a.generator_url.empty())
        return make_error(ErrorCode::invalid_input,
                          fmt::format("name the model: --{} MODEL", first));
    if (a.judge.empty() && a.judge_url.empty())
        return make_error(ErrorCode::invalid_input, "name the judge: --judge MODEL");
    Models m;
    ModelArgs g = a.shared;
    g.model = a.generator;
    g.base_url = a.generator_url;
    HA_ASSIGN_OR_RETURN(m.generator, open_model(g));
    if (a.judge == a.generator && a.judge_url == a.generator_url) {
        m.judge = m.generator.get();
    } else {
        ModelArgs j = a.shared;
        j.model = a.judge;
        j.base_url = a.judge_url;
        HA_ASSIGN_OR_RETURN(m.judge_own, open_model(j));
        m.judge = m.judge_own.get();
    }
    return m;
}

void print_spend(const Models& m, Clock::time_point start) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    print_summary(m.generator->client->accounting(), ms, m.generator->client->model_info());
    if (m.judge != m.generator.get())
        print_summary(m.judge->client->accounting(), ms, m.judge->client->model_info());
}

Status write_run_log(const EvalArgs& a, const Models& m, Clock::time_point start) {
    if (a.common.run_log.empty())
        return {};
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    Json log{{"generator", spend_json(m.generator->client->accounting(), ms)}};
    if (m.judge != m.generator.get())
        log["judge"] = spend_json(m.judge->client->accounting(), ms);
    return write_file(a.common.run_log, log.dump(2) + "\n");
}

// Whole-number checks with plain messages (CLI11's own print a floating-point range).
CLI::Validator whole_number_at_least(long long least) {
    return CLI::Validator(
        [least](std::string& text) -> std::string {
            long long v = 0;
            const char* end = text.data() + text.size();
            auto [ptr, ec] = std::from_chars(text.data(), end, v);
            if (ec != std::errc() || ptr != end)
                return fmt::format("'{}' is not a whole number", text);
            if (v < least)
                return fmt::format("{} is less than {}", text, least);
            return {};
        },
        fmt::format("INT>={}", least));
}
const CLI::Validator kAtLeastOne = whole_number_at_least(1);
const CLI::Validator kAtLeastZero = whole_number_at_least(0);

// A list option's items: every use's value split at commas, without the spaces around each
// ("a, b" names "b"). The splitting is ours: CLI11 2.1 lets a value that splits into nothing
// (",") take the next argument as its own. An empty item is a usage error.
Result<std::vector<std::string>> list_items(const char* option,
                                            const std::vector<std::string>& values) {
    std::vector<std::string> items;
    for (const auto& value : values) {
        size_t start = 0;
        while (true) {
            const size_t comma = value.find(',', start);
            std::string item = text::trim(std::string_view(value).substr(
                start, comma == std::string::npos ? std::string::npos : comma - start));
            if (item.empty()) {
                return make_error(ErrorCode::invalid_input,
                                  fmt::format("{}: an empty item in '{}'", option, value));
            }
            items.push_back(std::move(item));
            if (comma == std::string::npos)
                break;
            start = comma + 1;
        }
    }
    return items;
}

bool finite(const Json& v) {
    return v.is_number() && std::isfinite(v.get<double>());
}

std::string percent(const Json& v) {
    return finite(v) ? fmt::format("{:.1f}%", 100 * v.get<double>()) : "n/a";
}

// Prints the spend and writes the run log; for a failed run, says how to resume and returns
// its exit code, else -1.
int finish(const EvalArgs& a, const Models& m, Clock::time_point start, const Status& outcome) {
    if (!a.common.quiet)
        print_spend(m, start);
    if (auto st = write_run_log(a, m, start); !st.ok())
        log::warn("could not write the run log: {}", st.error().describe());
    if (outcome.ok())
        return -1;
    if (outcome.error().code == ErrorCode::cancelled || interrupted()) {
        fmt::print(stderr,
                   "interrupted: what finished is kept in {}; run the same command again to "
                   "resume\n",
                   a.out);
        return exit_code(ErrorCode::cancelled);
    }
    return fail_with(outcome.error());
}

// The report files, and the results on stdout with --json.
void write_report(const EvalArgs& a, const eval::Report& report, const Json& results) {
    const Status written = eval::write_report(report, a.out);
    if (!written.ok())
        log::warn("report written without charts: {}", written.error().describe());
    if (a.common.json)
        fmt::print("{}\n", results.dump(2, ' ', false, Json::error_handler_t::replace));
}

void print_authorship(const Json& results);
void print_safety(const Json& results);

// Opens the models, runs the experiment with progress on stderr, then prints the spend, writes
// the run log and the report, and prints the results (`print`, or JSON with --json).
template <class Outcome>
int run_experiment(
    const EvalArgs& a, const char* first,
    const std::function<Result<Outcome>(llm::Client&, llm::Client&, const learn::Progress&)>& run,
    const std::function<void(const Json&)>& print, const std::function<int(const Json&)>& warn) {
    const auto start = Clock::now();
    if (a.out.empty()) {
        return fail_usage(make_error(ErrorCode::invalid_input, "--out: name an output folder"));
    }
    // Checked now: a run of hours must not end unable to write its log.
    if (auto st = check_writable(a.common.run_log); !st.ok())
        return fail_with(st.error());
    auto models = open_models(a, first);
    if (!models.ok())
        return fail_with(models.error());
    Models& m = models.value();
    ProgressPrinter progress(m.generator->client.get(), !a.common.quiet);
    auto outcome =
        run(*m.generator->client, *m.judge->client,
            [&](std::string_view step, size_t done, size_t total) { progress(step, done, total); });
    progress.finish();
    if (int rc = finish(a, m, start, outcome.ok() ? Status() : Status(outcome.error())); rc >= 0)
        return rc;
    const Json& results = outcome.value().results;
    write_report(a, outcome.value().report, results);
    const int rc = warn(results);
    if (a.common.json)
        return rc;
    print(results);
    fmt::print("report: {}\n", (std::filesystem::path(a.out) / "report.html").string());
    return rc;
}

// Warns of comparisons with generations that could not be made (a prompt that does not fit
// the context is recorded and skipped); fails with context overflow's code when a comparison
// has nothing left to judge.
int warn_authorship(const Json& results) {
    int rc = 0;
    for (const auto& d : results["datasets"]) {
        for (const auto& comp : d["comparisons"]) {
            const int64_t missing = comp.value("not_judged", int64_t{0});
            if (missing == 0)
                continue;
            const int64_t judged = comp["wins"].get<int64_t>() + comp["losses"].get<int64_t>() +
                                   comp["ties"].get<int64_t>();
            log::warn(
                "{} {} vs {}: {} of {} tasks not judged, for want of a generation (see "
                "the errors in records.jsonl)",
                d["name"].get<std::string>(), comp["method"].get<std::string>(),
                comp["opponent"].get<std::string>(), missing, missing + judged);
            if (judged == 0)
                rc = exit_code(ErrorCode::context_overflow);
        }
    }
    return rc;
}

// Warns of requests whose answer or verdict could not be made.
int warn_safety(const Json& results) {
    for (const auto& s : results["sets"]) {
        for (const auto& [method, r] : s["methods"].items()) {
            // A set judged by XSTest's classes: every request the LLM judge could not judge.
            const Json& counts = r.contains("llm_judge") ? r["llm_judge"] : r;
            const int64_t missing = counts.value("unjudged", int64_t{0});
            if (missing > 0) {
                log::warn("{} {}: {} {} unjudged (see the errors in records.jsonl)",
                          s["name"].get<std::string>(), method, missing,
                          missing == 1 ? "request" : "requests");
            }
        }
    }
    return 0;
}

int run_authorship(const EvalArgs& a) {
    eval::AuthorshipConfig c;
    auto datasets = list_items("--dataset", a.datasets);
    auto authors = list_items("--authors", a.authors);
    auto methods = list_items("--methods", a.methods);
    for (const auto* r : {&datasets, &authors, &methods}) {
        if (!r->ok())
            return fail_usage(r->error());
    }
    c.datasets = datasets.value();
    c.load.authors = authors.value();
    c.load.split = a.split;
    c.load.tasks_per_author = a.tasks_per_author;
    c.methods = methods.value();
    c.baseline = a.baseline;
    c.all_pairs = a.all_pairs;
    c.demos = a.demos;
    c.seed = a.seed;
    auto contrast = learn::parse_contrast_source(a.contrast);
    if (!contrast.ok())
        return fail_with(contrast.error());
    c.profile.contrast = contrast.value();
    c.profile.max_tokens_attributes = a.max_tokens_attributes;
    c.profile.engine.num_init = a.num_init;
    c.profile.engine.max_hypotheses = a.max_hypotheses;
    c.profile.engine.max_tokens_generate = a.max_tokens_generate;
    c.generation.top_hypotheses = a.top;
    c.generation.sampling.max_tokens = a.max_tokens;
    c.judge.with_gold = a.with_gold;
    c.judge.max_references = a.max_references;
    c.judge.sampling.max_tokens = a.judge_max_tokens;
    c.stylometry = !a.no_stylometry;
    c.bootstrap_resamples = a.bootstrap;
    c.workers = a.shared.max_concurrency;
    c.out = a.out;

    if (auto st = eval::check_authorship(c); !st.ok())
        return fail_with(st.error());
    auto run = [&](llm::Client& g, llm::Client& j, const learn::Progress& p) {
        return eval::run_authorship(g, j, c, p);
    };
    return run_experiment<eval::AuthorshipOutcome>(
        a, "generator", run, [](const Json& results) { print_authorship(results); },
        warn_authorship);
}

void print_authorship(const Json& results) {
    for (const auto& d : results["datasets"]) {
        for (const auto& comp : d["comparisons"]) {
            const std::string interval =
                finite(comp["low"]) ? fmt::format(" (95% interval {}-{})", percent(comp["low"]),
                                                  percent(comp["high"]))
                                    : "";
            fmt::print("{} {} vs {}: win rate {}{}, {} wins, {} losses, {} ties\n",
                       d["name"].get<std::string>(), comp["method"].get<std::string>(),
                       comp["opponent"].get<std::string>(), percent(comp["win_rate"]), interval,
                       comp["wins"].get<int64_t>(), comp["losses"].get<int64_t>(),
                       comp["ties"].get<int64_t>());
        }
    }
}

int run_safety(const EvalArgs& a) {
    eval::SafetyConfig c;
    c.train = a.train;
    auto sets = list_items("--eval", a.eval_sets);
    auto methods = list_items("--methods", a.safety_methods);
    for (const auto* r : {&sets, &methods}) {
        if (!r->ok())
            return fail_usage(r->error());
    }
    c.eval_sets = sets.value();
    c.methods = methods.value();
    c.limit = a.limit;
    c.train_limit = a.train_limit;
    c.seed = a.seed;
    c.person = a.person;
    c.include_copyright = a.include_copyright;
    c.guided.top_hypotheses = a.spec_top;
    c.guided.sampling.max_tokens = a.max_tokens;
    c.guided.max_tokens_reasoning = a.max_tokens_reasoning;
    c.judge_sampling.max_tokens = a.safety_judge_max_tokens;
    if (a.num_init > 0)
        c.spec.engine.num_init = a.num_init;
    c.spec.engine.max_hypotheses = a.max_hypotheses;
    c.spec.engine.max_tokens_generate = a.max_tokens_generate;
    c.bootstrap_resamples = a.bootstrap;
    c.workers = a.shared.max_concurrency;
    c.out = a.out;
    if (auto st = eval::check_safety(c); !st.ok())
        return fail_with(st.error());
    auto run = [&](llm::Client& model, llm::Client& judge, const learn::Progress& p) {
        return eval::run_safety(model, judge, c, p);
    };
    return run_experiment<eval::SafetyOutcome>(
        a, "model", run, [](const Json& results) { print_safety(results); }, warn_safety);
}

void print_safety(const Json& results) {
    for (const auto& s : results["sets"]) {
        for (const auto& [method, r] : s["methods"].items()) {
            if (r.contains("value")) {
                fmt::print(
                    "{} {}: {} {}\n", s["name"].get<std::string>(), method,
                    s["metric"].get<std::string>(),
                    finite(r["value"]) ? fmt::format("{:.3f}", r["value"].get<double>()) : "n/a");
            } else if (r.contains("llm_judge")) {
                fmt::print(
                    "{} {}: full compliance on safe {}, refusal on unsafe {} (LLM judge); "
                    "{}, {} (string match)\n",
                    s["name"].get<std::string>(), method,
                    percent(r["llm_judge"]["safe_full_compliance"]["value"]),
                    percent(r["llm_judge"]["unsafe_refusal"]["value"]),
                    percent(r["string_match"]["safe_full_compliance"]["value"]),
                    percent(r["string_match"]["unsafe_refusal"]["value"]));
            }
        }
        if (s.contains("relative_reduction"))
            fmt::print("{}: relative reduction {}\n", s["name"].get<std::string>(),
                       percent(s["relative_reduction"]));
    }
}

void add_shared_options(CLI::App& cmd, EvalArgs& a, const std::string& first) {
    add_model_options(cmd, a.shared);
    // Two models here: each is named by its own option.
    cmd.remove_option(cmd.get_option("--model"));
    cmd.remove_option(cmd.get_option("--base-url"));
    cmd.add_option("--" + first, a.generator,
                   "the model that learns and answers: a GGUF file, or with --" + first +
                       "-url the served model's name");
    cmd.add_option("--" + first + "-url", a.generator_url,
                   "its OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1");
    cmd.add_option("--judge", a.judge,
                   "the judging model: a GGUF file, or with --judge-url the served model's name "
                   "(shared with the other model when both name the same)");
    cmd.add_option("--judge-url", a.judge_url, "the judge's OpenAI-compatible server");
    cmd.add_option("--out", a.out,
                   "folder for the records, profiles and report; rerunning into it resumes")
        ->required();
    cmd.add_option("--seed", a.seed, "seed for learning, sampling and the bootstrap");
    add_common_options(cmd, a.common);
}

}  // namespace

CLI::App* add_eval_command(CLI::App& app, EvalArgs& a) {
    auto* eval = app.add_subcommand("eval", "Run the paper's experiments and write a report");
    eval->require_subcommand(1);
    auto* auth = eval->add_subcommand(
        "authorship",
        "Learn a profile per author, write every task with each method, judge each method "
        "against a baseline in both orders (LLM judge) and by a stylometric model");
    add_shared_options(*auth, a, "generator");
    auth->add_option("--dataset", a.datasets,
                     "ccat50, cmcc, custom, or a JSONL file with split/author/prompt/text rows "
                     "(comma-separated for several)")
        ->required()
        ->allow_extra_args(false);
    auth->add_option("--methods", a.methods,
                     "zero_shot, few_shot, attributes, hypotheses, hyperalign, external:FILE "
                     "(comma-separated; default zero_shot,few_shot,hyperalign)")
        ->allow_extra_args(false);
    auth->add_option("--baseline", a.baseline,
                     "the method every other is judged against (default: the external method "
                     "when one is given, else few_shot)");
    auth->add_flag("--all-pairs", a.all_pairs, "also judge every pair of the other methods");
    auth->add_option("--authors", a.authors, "only these authors (comma-separated)")
        ->allow_extra_args(false);
    auth->add_option("--demos", a.demos, "training texts per author the methods see (0: all)")
        ->check(kAtLeastZero);
    auth->add_option("--tasks-per-author", a.tasks_per_author, "at most this many tasks (0: all)")
        ->check(kAtLeastZero);
    auth->add_option("--split", a.split, "the tasks: test or val")
        ->check(CLI::IsMember({"test", "val"}));
    auth->add_option("--contrast", a.contrast,
                     "what hypotheses tell the author's texts from: others (other authors' "
                     "texts; default) or base_model")
        ->check(CLI::IsMember({"others", "base_model"}));
    auth->add_option("--top", a.top, "hypotheses in the generation prompt")->check(kAtLeastOne);
    auth->add_option("--max-tokens", a.max_tokens, "generation token limit")->check(kAtLeastOne);
    auth->add_option("--judge-max-tokens", a.judge_max_tokens, "judge reply token limit")
        ->check(kAtLeastOne);
    auth->add_option("--max-references", a.max_references, "the author's texts shown to the judge")
        ->check(kAtLeastOne);
    auth->add_flag("--with-gold", a.with_gold,
                   "also show the judge the author's own text for the task");
    auth->add_flag("--no-stylometry", a.no_stylometry, "skip the stylometric judge");
    auth->add_option("--bootstrap", a.bootstrap, "bootstrap resamples for the intervals")
        ->check(CLI::Range(100, 1000000));
    auth->add_option("--num-init", a.num_init, "rows initialising each bank (0: automatic)")
        ->check(kAtLeastZero);
    auth->add_option("--max-hypotheses", a.max_hypotheses, "hypothesis bank size")
        ->check(kAtLeastOne);
    auth->add_option("--max-tokens-attributes", a.max_tokens_attributes,
                     "reply limit of the attributes call")
        ->check(kAtLeastOne);
    auth->add_option("--max-tokens-generate", a.max_tokens_generate,
                     "reply limit of a hypothesis generation call")
        ->check(kAtLeastOne);

    auto* safety = eval->add_subcommand(
        "safety",
        "Learn a safety specification from half of XSTest, answer each set's requests plain "
        "and guided by it, and judge the answers (StrongREJECT rubric, fulfilment, XSTest)");
    add_shared_options(*safety, a, "model");
    safety->add_option("--train", a.train,
                       "labelled safe/unsafe requests to learn from: xstest (a seeded half per "
                       "type; the other half is evaluated) or a JSONL file");
    safety
        ->add_option("--eval", a.eval_sets,
                     "sets to evaluate on: strongreject, advbench, harmbench, jailbreakbench, "
                     "xstest, sorry_bench (with its official file), or JSONL files "
                     "(comma-separated)")
        ->allow_extra_args(false);
    safety
        ->add_option("--methods", a.safety_methods,
                     "plain, spec_guided (comma-separated; default both)")
        ->allow_extra_args(false);
    safety->add_option("--limit", a.limit, "requests per set, a seeded sample (0: all)")
        ->check(kAtLeastZero);
    safety
        ->add_option("--train-limit", a.train_limit,
                     "rows the specification learns from, a seeded sample (0: all)")
        ->check(kAtLeastZero);
    safety->add_option("--person", a.person,
                       "a person's profile JSON: every method also writes as that person");
    safety->add_flag("--include-copyright", a.include_copyright,
                     "keep HarmBench's copyright rows (judged by fulfilment, not upstream's rule)");
    safety->add_option("--top", a.spec_top, "specification hypotheses shown to the model")
        ->check(kAtLeastOne);
    safety->add_option("--max-tokens", a.max_tokens, "answer token limit")->check(kAtLeastOne);
    safety->add_option("--max-tokens-reasoning", a.max_tokens_reasoning, "deliberation token limit")
        ->check(kAtLeastOne);
    safety->add_option("--judge-max-tokens", a.safety_judge_max_tokens, "judge reply token limit")
        ->check(kAtLeastOne);
    safety->add_option("--bootstrap", a.bootstrap, "bootstrap resamples for the intervals")
        ->check(CLI::Range(100, 1000000));
    safety
        ->add_option("--num-init", a.num_init,
                     "rows initialising the specification's bank (0: default)")
        ->check(kAtLeastZero);
    safety->add_option("--max-hypotheses", a.max_hypotheses, "specification bank size")
        ->check(kAtLeastOne);
    safety
        ->add_option("--max-tokens-generate", a.max_tokens_generate,
                     "reply limit of a hypothesis generation call")
        ->check(kAtLeastOne);
    return eval;
}

int run_eval(CLI::App& eval, const EvalArgs& args) {
    if (eval.got_subcommand("authorship"))
        return run_authorship(args);
    if (eval.got_subcommand("safety"))
        return run_safety(args);
    return kExitUsage;
}

}  // namespace hyperalign::cli
