#include "hyperalign/eval/authorship.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "data/jsonl.hpp"
#include "hyperalign/core/hash.hpp"
#include "hyperalign/core/log.hpp"
#include "hyperalign/core/profile.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/eval/run_records.hpp"
#include "hyperalign/eval/stats.hpp"
#include "hyperalign/eval/stylometry.hpp"
#include "run_support.hpp"

namespace hyperalign::eval {
namespace {

using namespace detail;

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

struct MethodSpec {
    std::string name;
    std::optional<generate::Method> method;       // a method of ours
    std::map<std::string, std::string> external;  // task id -> text, for external:FILE
    std::string external_file;
};

using J = nlohmann::json;

// A generation record as run() writes it: its text, or the error that kept it from being made.
const J* usable_generation(const J* r) {
    return r && (field_is(*r, "text", &J::is_string) || field_is(*r, "error", &J::is_string))
               ? r
               : nullptr;
}

// A verdict record as verdicts() writes it.
const J* usable_verdict(const J* r) {
    if (!r || !field_is(*r, "outcome", &J::is_string) ||
        !field_is(*r, "length_method", &J::is_number_unsigned) ||
        !field_is(*r, "length_opponent", &J::is_number_unsigned))
        return nullptr;
    for (const char* side : {"method_as_a", "method_as_b"}) {
        if (!field_is(*r, side, &J::is_object) || !field_is((*r)[side], "verdict", &J::is_string))
            return nullptr;
    }
    return r;
}

Result<std::vector<MethodSpec>> parse_methods(const AuthorshipConfig& config) {
    std::vector<MethodSpec> out;
    std::set<std::string> seen;
    for (const auto& name : config.methods) {
        if (!seen.insert(name).second)
            return make_error(ErrorCode::invalid_input,
                              fmt::format("method '{}' is named twice", name));
        MethodSpec m;
        m.name = name;
        if (name.starts_with("external:")) {
            m.external_file = name.substr(9);
            HA_ASSIGN_OR_RETURN(m.external, load_external_generations(m.external_file));
        } else {
            HA_ASSIGN_OR_RETURN(m.method, generate::parse_method(name));
        }
        out.push_back(std::move(m));
    }
    if (out.size() < 2) {
        return make_error(ErrorCode::invalid_input,
                          "name at least two methods: each is judged against a baseline");
    }
    if (!seen.count(config.baseline)) {
        return make_error(
            ErrorCode::invalid_input,
            fmt::format("the baseline '{}' is not among the methods", config.baseline));
    }
    return out;
}

bool needs_profile(const MethodSpec& m) {
    return m.method &&
           (*m.method == generate::Method::attributes ||
            *m.method == generate::Method::hypotheses || *m.method == generate::Method::hyperalign);
}

// A file name for an author that any file system takes.
std::string file_stem(const std::string& author) {
    std::string out;
    for (unsigned char c : author)
        out += std::isalnum(c) || c == '-' || c == '_' || c == '.' ? char(c) : '_';
    if (out != author || out.empty() || out[0] == '.')
        out += "-" + sha256_hex(author).substr(0, 8);
    return out;
}

// The settings a run's records depend on. Methods and authors are not among them: a rerun may
// add either and reuses what was done.
Json run_settings(const AuthorshipConfig& c, const llm::Client& generator,
                  const llm::Client& judge) {
    const auto& g = c.generation;
    return Json{
        {"experiment", "authorship"},
        {"generator", model_settings(generator.model_info())},
        {"judge", model_settings(judge.model_info())},
        {"seed", c.seed},
        {"demos", c.demos},
        {"split", c.load.split},
        {"generation",
         {{"top_hypotheses", g.top_hypotheses},
          {"selection", std::string(generate::to_string(g.selection))},
          {"temperature", g.sampling.temperature},
          {"top_p", g.sampling.top_p},
          {"top_k", g.sampling.top_k},
          {"max_tokens", g.sampling.max_tokens}}},
        {"profile",
         {{"contrast",
           c.profile.contrast == learn::ContrastSource::others ? "others" : "base_model"},
          {"attributes", c.profile.attributes},
          {"num_init", c.profile.engine.num_init},
          {"max_hypotheses", c.profile.engine.max_hypotheses}}},
        {"prompts", prompt_versions({"judge_authorship", "generate_intro", "generate_attributes",
                                     "generate_hypotheses", "generate_examples", "generate_task",
                                     "attributes", "hypotheses_pair", "predict_pair"})},
        {"judge_options",
         {{"with_gold", c.judge.with_gold},
          {"max_references", c.judge.max_references},
          {"max_tokens", c.judge.sampling.max_tokens}}},
    };
}

std::string percent(double v) {
    return std::isnan(v) ? "n/a" : fmt::format("{:.1f}%", 100 * v);
}

std::string interval_text(const Interval& i) {
    return std::isnan(i.estimate) ? "n/a"
                                  : fmt::format("{:.1f}-{:.1f}%", 100 * i.low, 100 * i.high);
}

Json number_or_null(double v) {
    return std::isnan(v) ? Json(nullptr) : Json(v);
}

const std::map<std::string, std::string> kTableTitles = {
    {"win_rates", "Win rates (ties count half)"},
    {"per_author", "Win rates per author"},
    {"judge_bias", "Judge position and length bias"},
    {"stylometry", "Stylometric judge (no LLM): texts attributed to their author"},
};

// The tables of an authorship report, empty, in the order the report shows them.
void add_tables(Report& report) {
    for (const char* id : {"win_rates", "per_author", "judge_bias", "stylometry"})
        report.tables.push_back({kTableTitles.at(id), {}, {}});
}

// One dataset's run: profiles, generations, verdicts, stylometry, and its part of the report.
class DatasetRun {
  public:
    DatasetRun(llm::Client& generator, llm::Client& judge, const AuthorshipConfig& config,
               const std::vector<MethodSpec>& methods, RunRecords& records,
               const learn::Progress& progress, AuthorshipDataset data)
        : gen_(generator),
          judge_(judge),
          config_(config),
          methods_(methods),
          records_(records),
          progress_(progress),
          data_(std::move(data)) {}

    Status profiles() {
        bool needed = false;
        for (const auto& m : methods_)
            needed = needed || needs_profile(m);
        size_t done = 0;
        for (const auto& author : data_.authors) {
            Profile p;
            p.person = person(author);
            for (const auto& d : demos(author))
                p.demonstrations.push_back(
                    {d.id, d.prompt, d.prompt_derived, d.text, sha256_hex(d.text)});
            profiles_[author] = std::move(p);
        }
        if (!needed)
            return {};
        for (const auto& author : data_.authors) {
            report_progress("profiles", done++, data_.authors.size());
            const fs::path path =
                config_.out / "profiles" / file_stem(data_.name) / (file_stem(author) + ".json");
            if (fs::exists(path)) {
                HA_ASSIGN_OR_RETURN(std::string text, read_whole(path));
                HA_ASSIGN_OR_RETURN(profiles_[author], profile_from_json(text, path.string()));
                continue;
            }
            learn::ProfileOptions o = config_.profile;
            o.person = person(author);
            o.seed = config_.seed;
            if (o.contrast == learn::ContrastSource::others) {
                o.contrast_pool.clear();
                for (const auto& [other, texts] : data_.train) {
                    if (other == author)
                        continue;
                    for (size_t i = 0; i < texts.size() && i < std::max<size_t>(config_.demos, 1);
                         ++i)
                        o.contrast_pool.push_back(texts[i]);
                }
            }
            auto built = learn::build_profile(gen_, demos(author), o);
            if (!built.ok()) {
                Error e = built.take_error();
                e.message =
                    fmt::format("learning {}'s profile of '{}': {}", data_.name, author, e.message);
                return e;
            }
            Profile p = std::move(built.value());
            HA_TRY(write_atomically(path, to_json(p)));
            profiles_[author] = std::move(p);
        }
        report_progress("profiles", done, data_.authors.size());
        return {};
    }

    Status generations() {
        // Every (task, method of ours) not yet recorded.
        struct Job {
            size_t task;
            const MethodSpec* method;
        };
        std::vector<Job> jobs;
        for (size_t t = 0; t < data_.tasks.size(); ++t) {
            for (const auto& m : methods_) {
                if (m.method)
                    jobs.push_back({t, &m});
            }
        }
        std::atomic<size_t> done{0};
        return for_each(jobs.size(), workers(), [&](size_t i) -> Status {
            const AuthorshipTask& task = data_.tasks[jobs[i].task];
            const MethodSpec& m = *jobs[i].method;
            const std::string key = gen_key(m.name, task.id);
            if (!usable_generation(records_.find(key))) {
                generate::GenerateOptions o = config_.generation;
                o.method = *m.method;
                o.sampling.seed = config_.seed;
                o.on_text = nullptr;
                auto reply = generate::write(gen_, profiles_.at(task.author), o, task.prompt);
                nlohmann::json rec{{"dataset", data_.name},
                                   {"author", task.author},
                                   {"task", task.id},
                                   {"method", m.name}};
                if (reply.ok()) {
                    rec["text"] = reply.value().text;
                    rec["finish"] =
                        reply.value().finish == llm::FinishReason::length ? "length" : "stop";
                    rec["tokens_completion"] = reply.value().usage.tokens_completion;
                } else if (reply.error().code == ErrorCode::context_overflow) {
                    // The task cannot be written with this method and model: say so and go on.
                    rec["error"] = reply.error().describe();
                } else {
                    return reply.take_error();
                }
                HA_TRY(records_.put(key, std::move(rec)));
            }
            report_progress("generation", ++done, jobs.size());
            return {};
        });
    }

    // The text `method` produced for `task`, or nullopt when it could not be made.
    std::optional<std::string> text_of(const MethodSpec& m, const AuthorshipTask& task) const {
        if (!m.method)
            return m.external.at(task.id);
        const auto* rec = usable_generation(records_.find(gen_key(m.name, task.id)));
        if (!rec || !rec->contains("text") || !(*rec)["text"].is_string())
            return std::nullopt;
        return (*rec)["text"].get<std::string>();
    }

    std::vector<std::pair<const MethodSpec*, const MethodSpec*>> comparisons() const {
        std::vector<std::pair<const MethodSpec*, const MethodSpec*>> out;
        const MethodSpec* base = nullptr;
        for (const auto& m : methods_) {
            if (m.name == config_.baseline)
                base = &m;
        }
        for (const auto& m : methods_) {
            if (&m != base)
                out.emplace_back(&m, base);
        }
        if (config_.all_pairs) {
            for (size_t i = 0; i < methods_.size(); ++i) {
                for (size_t j = i + 1; j < methods_.size(); ++j) {
                    if (&methods_[i] != base && &methods_[j] != base)
                        out.emplace_back(&methods_[i], &methods_[j]);
                }
            }
        }
        return out;
    }

    Status verdicts() {
        struct Job {
            size_t task;
            const MethodSpec* a;
            const MethodSpec* b;
        };
        std::vector<Job> jobs;
        for (const auto& [a, b] : comparisons()) {
            for (size_t t = 0; t < data_.tasks.size(); ++t)
                jobs.push_back({t, a, b});
        }
        std::atomic<size_t> done{0};
        return for_each(jobs.size(), workers(), [&](size_t i) -> Status {
            const Job& job = jobs[i];
            const AuthorshipTask& task = data_.tasks[job.task];
            const std::string key = judge_key(job.a->name, job.b->name, task.id);
            auto text_a = text_of(*job.a, task);
            auto text_b = text_of(*job.b, task);
            if (!usable_verdict(records_.find(key)) && text_a && text_b) {
                PairInput in;
                in.person = person(task.author);
                for (const auto& d : demos(task.author))
                    in.references.push_back(d.text);
                if (task.gold)
                    in.gold = *task.gold;
                in.task = task.prompt;
                in.candidate_a = *text_a;
                in.candidate_b = *text_b;
                JudgeOptions jo = config_.judge;
                jo.with_gold = jo.with_gold && task.gold.has_value();  // CUSTOM's task has none
                HA_ASSIGN_OR_RETURN(PairResult r, judge_both_orders(judge_, in, jo));
                nlohmann::json rec{
                    {"dataset", data_.name},
                    {"author", task.author},
                    {"task", task.id},
                    {"method", job.a->name},
                    {"opponent", job.b->name},
                    {"method_as_a",
                     {{"verdict", to_string(r.method_as_a.verdict)}, {"raw", r.method_as_a.raw}}},
                    {"method_as_b",
                     {{"verdict", to_string(r.method_as_b.verdict)}, {"raw", r.method_as_b.raw}}},
                    {"outcome", to_string(r.outcome)},
                    {"length_method", text_a->size()},
                    {"length_opponent", text_b->size()}};
                HA_TRY(records_.put(key, std::move(rec)));
            }
            report_progress("judging", ++done, jobs.size());
            return {};
        });
    }

    // Win rates, bias and stylometry into `out` (this dataset's JSON) and the report parts.
    void summarize(Json& out, Report& report, BarChart& bars) {
        out["name"] = data_.name;
        out["tasks"] = data_.tasks.size();
        out["authors"] = data_.authors;
        out["training"] = data_.train_note;
        if (data_.prompt_check) {
            out["prompt_check"] = {{"rows", data_.prompt_check->rows},
                                   {"reproduced", data_.prompt_check->reproduced},
                                   {"differing_ids", data_.prompt_check->differing_ids}};
        }
        Json comps = Json::array();
        std::vector<Judgement> judgements;
        Table heat_rows;
        Heatmap heat;
        heat.id = "authors_" + file_stem(data_.name);
        heat.title =
            fmt::format("{}: win rate against {} per author", data_.name, config_.baseline);
        heat.rows = data_.authors;
        Table& main = table(report, "win_rates",
                            {"dataset", "method", "opponent", "win rate", "95% interval", "wins",
                             "losses", "ties", "invalid verdicts", "not judged"});
        Table& per_author = table(report, "per_author",
                                  {"dataset", "author", "method", "opponent", "win rate",
                                   "95% interval", "wins", "losses", "ties"});
        uint64_t seed = config_.seed;
        for (const auto& [a, b] : comparisons()) {
            std::map<std::string, std::vector<Outcome>> by_author;
            std::map<std::string, Tally> tallies;
            int64_t invalid = 0, missing = 0;
            for (const auto& task : data_.tasks) {
                const auto* rec =
                    usable_verdict(records_.find(judge_key(a->name, b->name, task.id)));
                if (!rec) {
                    ++missing;
                    continue;
                }
                const std::string o = (*rec)["outcome"].get<std::string>();
                Outcome outcome = o == "win"    ? Outcome::win
                                  : o == "loss" ? Outcome::loss
                                                : Outcome::tie;
                by_author[task.author].push_back(outcome);
                tallies[task.author].add(outcome);
                const size_t lm = (*rec)["length_method"].get<size_t>();
                const size_t lo = (*rec)["length_opponent"].get<size_t>();
                for (const char* side : {"method_as_a", "method_as_b"}) {
                    const std::string v = (*rec)[side]["verdict"].get<std::string>();
                    Verdict verdict = v == "A" || v == "a"   ? Verdict::a
                                      : v == "B" || v == "b" ? Verdict::b
                                                             : Verdict::invalid;
                    invalid += verdict == Verdict::invalid;
                    const bool method_first = std::string(side) == "method_as_a";
                    judgements.push_back({verdict, method_first ? lm : lo, method_first ? lo : lm});
                }
            }
            std::vector<std::vector<Outcome>> groups;
            Tally total;
            for (const auto& author : data_.authors) {
                groups.push_back(by_author[author]);
                total.wins += tallies[author].wins;
                total.losses += tallies[author].losses;
                total.ties += tallies[author].ties;
            }
            const Interval all = bootstrap_win_rate(groups, seed, config_.bootstrap_resamples);
            Json authors = Json::array();
            std::vector<double> heat_column;
            for (const auto& author : data_.authors) {
                const Tally& t = tallies[author];
                const Interval ai =
                    bootstrap_win_rate({by_author[author]}, seed, config_.bootstrap_resamples);
                authors.push_back({{"author", author},
                                   {"win_rate", number_or_null(t.win_rate())},
                                   {"low", number_or_null(ai.low)},
                                   {"high", number_or_null(ai.high)},
                                   {"wins", t.wins},
                                   {"losses", t.losses},
                                   {"ties", t.ties}});
                per_author.rows.push_back(
                    {data_.name, author, a->name, b->name, percent(t.win_rate()), interval_text(ai),
                     std::to_string(t.wins), std::to_string(t.losses), std::to_string(t.ties)});
                heat_column.push_back(t.n() ? t.win_rate() : std::nan(""));
            }
            comps.push_back({{"method", a->name},
                             {"opponent", b->name},
                             {"win_rate", number_or_null(all.estimate)},
                             {"low", number_or_null(all.low)},
                             {"high", number_or_null(all.high)},
                             {"wins", total.wins},
                             {"losses", total.losses},
                             {"ties", total.ties},
                             {"invalid_verdicts", invalid},
                             {"not_judged", missing},
                             {"per_author", authors}});
            main.rows.push_back({data_.name, a->name, b->name, percent(all.estimate),
                                 interval_text(all), std::to_string(total.wins),
                                 std::to_string(total.losses), std::to_string(total.ties),
                                 std::to_string(invalid), std::to_string(missing)});
            if (b->name == config_.baseline) {
                if (!std::isnan(all.estimate))
                    bars.points.push_back({data_.name, a->name, all.estimate, all.low, all.high});
                heat.columns.push_back(a->name);
                for (size_t r = 0; r < heat_column.size(); ++r) {
                    if (heat.values.size() <= r)
                        heat.values.emplace_back();
                    heat.values[r].push_back(heat_column[r]);
                }
            }
        }
        out["comparisons"] = comps;
        if (!heat.columns.empty())
            report.heatmaps.push_back(heat);

        const BiasSummary bias = summarize_bias(judgements);
        out["judge_bias"] = {{"judgements", bias.judgements},
                             {"invalid", bias.invalid},
                             {"first_position_rate", number_or_null(bias.first_position_rate)},
                             {"length_decisive", bias.length_decisive},
                             {"longer_wins_rate", number_or_null(bias.longer_wins_rate)}};
        table(report, "judge_bias",
              {"dataset", "judgements", "invalid", "first position chosen", "longer text chosen"})
            .rows.push_back({data_.name, std::to_string(bias.judgements),
                             std::to_string(bias.invalid), percent(bias.first_position_rate),
                             fmt::format("{} (of {} with unequal lengths)",
                                         percent(bias.longer_wins_rate), bias.length_decisive)});
        out["stylometry"] = stylometry_;
    }

    Status stylometry(Report& report, BarChart& chart) {
        if (!config_.stylometry)
            return {};
        std::vector<LabelledText> train;
        for (const auto& [author, texts] : data_.train) {
            for (const auto& d : texts)
                train.push_back({author, d.text});
        }
        report_progress("stylometry", 0, 1);
        auto judge = StylometricJudge::train(train);
        if (!judge.ok()) {
            stylometry_ = {{"skipped", judge.error().message}};
            report.paragraphs.push_back(
                fmt::format("{}: no stylometric judge ({}).", data_.name, judge.error().message));
            return {};
        }
        std::vector<LabelledText> gold;
        for (const auto& t : data_.tasks) {
            if (t.gold)
                gold.push_back({t.author, *t.gold});
        }
        Table& tab = table(report, "stylometry",
                           {"dataset", "texts", "candidate authors", "attributed to the author"});
        stylometry_ = Json::object();
        stylometry_["candidate_authors"] = judge.value().authors().size();
        if (!gold.empty()) {
            auto ev = judge.value().evaluate(gold);
            stylometry_["real_texts"] = {
                {"n", ev.n}, {"correct", ev.correct}, {"accuracy", ev.accuracy()}};
            tab.rows.push_back({data_.name, fmt::format("real texts ({})", ev.n),
                                std::to_string(judge.value().authors().size()),
                                percent(ev.accuracy())});
            chart.points.push_back(
                {data_.name, "real texts", ev.accuracy(), ev.accuracy(), ev.accuracy()});
        }
        Json per_method = Json::object();
        for (const auto& m : methods_) {
            size_t n = 0, hit = 0;
            for (const auto& t : data_.tasks) {
                auto text = text_of(m, t);
                if (!text)
                    continue;
                ++n;
                hit += judge.value().attribute(*text) == t.author;
            }
            double share = n ? double(hit) / double(n) : std::nan("");
            per_method[m.name] = {{"n", n}, {"attributed", hit}, {"share", number_or_null(share)}};
            tab.rows.push_back({data_.name, fmt::format("{} ({})", m.name, n),
                                std::to_string(judge.value().authors().size()), percent(share)});
            if (n > 0)
                chart.points.push_back({data_.name, m.name, share, share, share});
        }
        stylometry_["methods"] = per_method;
        report_progress("stylometry", 1, 1);
        return {};
    }

    const AuthorshipDataset& data() const { return data_; }

  private:
    // The report's table `id`; add_tables made them all, in the report's order, so references
    // stay valid.
    static Table& table(Report& report, const std::string& id, std::vector<std::string> header) {
        const std::string& title = kTableTitles.at(id);
        for (auto& t : report.tables) {
            if (t.title == title) {
                if (t.header.empty())
                    t.header = std::move(header);
                return t;
            }
        }
        report.tables.push_back({title, std::move(header), {}});
        return report.tables.back();
    }

    std::string person(const std::string& author) const { return data_.name + ":" + author; }

    std::vector<Demonstration> demos(const std::string& author) const {
        const auto& all = data_.train.at(author);
        const size_t n = config_.demos ? std::min(config_.demos, all.size()) : all.size();
        return {all.begin(), all.begin() + ptrdiff_t(n)};
    }

    std::string gen_key(const std::string& method, const std::string& task) const {
        return fmt::format("generation/{}/{}/{}", data_.name, method, task);
    }
    std::string judge_key(const std::string& a, const std::string& b,
                          const std::string& task) const {
        return fmt::format("verdict/{}/{}/{}/{}", data_.name, a, b, task);
    }

    int workers() const {
        return gen_.model_info().backend == "openai" ? std::max(1, config_.workers) : 1;
    }

    void report_progress(std::string_view step, size_t done, size_t total) {
        if (!progress_)
            return;
        std::lock_guard lock(progress_mutex_);
        progress_(fmt::format("{} {}", data_.name, step), done, total);
    }

    llm::Client& gen_;
    llm::Client& judge_;
    const AuthorshipConfig& config_;
    const std::vector<MethodSpec>& methods_;
    RunRecords& records_;
    const learn::Progress& progress_;
    AuthorshipDataset data_;
    std::map<std::string, Profile> profiles_;
    Json stylometry_ = nullptr;
    std::mutex progress_mutex_;
};

}  // namespace

Result<std::map<std::string, std::string>> load_external_generations(const std::string& path) {
    if (path.empty()) {
        return make_error(ErrorCode::invalid_input,
                          "an external method needs its generations file: external:FILE");
    }
    HA_ASSIGN_OR_RETURN(auto rows, data::read_jsonl(path));
    std::map<std::string, std::string> out;
    std::map<std::string, int> first_line;
    for (const auto& row : rows) {
        const auto& j = row.json;
        std::string id;
        if (j.contains("id") && j["id"].is_string() &&
            !text::trim(j["id"].get<std::string>()).empty())
            id = j["id"].get<std::string>();
        else if (j.contains("id") && j["id"].is_number_integer())
            id = std::to_string(j["id"].get<int64_t>());
        else
            return data::row_error(row, "id", "missing, or not a non-empty string or an integer");
        const char* field = j.contains("text") ? "text" : j.contains("output") ? "output" : nullptr;
        if (!field)
            return data::row_error(row, "text",
                                   "missing (give the generation as 'text' or 'output')");
        if (!j[field].is_string())
            return data::row_error(row, field, "must be a string");
        if (auto [it, fresh] = first_line.emplace(id, row.line); !fresh) {
            return data::row_error(
                row, "id", fmt::format("duplicate id '{}' (first on line {})", id, it->second));
        }
        out.emplace(id, j[field].get<std::string>());
    }
    if (out.empty()) {
        Error e = make_error(ErrorCode::invalid_input, "no generations in the file");
        e.file = path;
        return e;
    }
    return out;
}

namespace {

// The configuration with its baseline named.
AuthorshipConfig resolved(const AuthorshipConfig& config) {
    AuthorshipConfig c = config;
    if (c.baseline.empty()) {
        const auto external = std::count_if(c.methods.begin(), c.methods.end(), [](const auto& m) {
            return m.starts_with("external:");
        });
        c.baseline = "few_shot";
        if (external == 1) {
            c.baseline = *std::find_if(c.methods.begin(), c.methods.end(),
                                       [](const auto& m) { return m.starts_with("external:"); });
        }
    }
    return c;
}

}  // namespace

namespace {

// What a run needs that can be had and checked without a model: its methods (external
// generations loaded) and its datasets.
struct Prepared {
    std::vector<MethodSpec> methods;
    std::vector<AuthorshipDataset> datasets;
};

Result<Prepared> prepare(const AuthorshipConfig& config) {
    if (config.datasets.empty())
        return make_error(ErrorCode::invalid_input, "name at least one dataset");
    HA_TRY(check_out_folder(config.out, "authorship"));
    Prepared p;
    HA_ASSIGN_OR_RETURN(p.methods, parse_methods(config));
    const auto& methods = p.methods;
    const bool profiles = std::any_of(methods.begin(), methods.end(), needs_profile);
    std::set<std::string> names;
    for (const auto& name : config.datasets) {
        HA_ASSIGN_OR_RETURN(auto data, load_authorship_dataset(name, config.load));
        if (!names.insert(data.name).second) {
            return make_error(ErrorCode::invalid_input,
                              fmt::format("two datasets are named '{}' (a file is named by its "
                                          "stem); rename one",
                                          data.name));
        }
        if (profiles && config.profile.contrast == learn::ContrastSource::others &&
            data.train.size() < 2) {
            return make_error(ErrorCode::invalid_input,
                              fmt::format("dataset '{}' has one author's training texts, and the "
                                          "'others' contrast needs another author's; use "
                                          "--contrast base_model",
                                          data.name));
        }
        for (const auto& m : methods) {
            if (m.method)
                continue;
            for (const auto& t : data.tasks) {
                if (!m.external.count(t.id)) {
                    Error e =
                        make_error(ErrorCode::invalid_input,
                                   fmt::format("no generation for {} task '{}'", data.name, t.id));
                    e.file = m.external_file;
                    e.field = "id";
                    return e;
                }
            }
        }
        p.datasets.push_back(std::move(data));
    }
    return p;
}

}  // namespace

Status check_authorship(const AuthorshipConfig& given) {
    auto prepared = prepare(resolved(given));
    return prepared.ok() ? Status() : Status(prepared.error());
}

Result<AuthorshipOutcome> run_authorship(llm::Client& generator, llm::Client& judge,
                                         const AuthorshipConfig& given,
                                         const learn::Progress& progress) {
    const AuthorshipConfig config = resolved(given);
    if (config.out.empty())
        return make_error(ErrorCode::invalid_input, "name an output folder");
    // Everything is loaded and checked before the first model call.
    HA_ASSIGN_OR_RETURN(Prepared prepared, prepare(config));
    const std::vector<MethodSpec>& methods = prepared.methods;
    std::vector<AuthorshipDataset>& loaded = prepared.datasets;
    std::vector<std::unique_ptr<DatasetRun>> runs;
    std::unique_ptr<RunRecords> records;
    std::error_code ec;
    fs::create_directories(config.out, ec);
    // Opening the records locks the folder for this run before anything in it is read.
    HA_ASSIGN_OR_RETURN(records, RunRecords::open(config.out / "records.jsonl"));
    HA_TRY(check_settings(config.out, run_settings(config, generator, judge)));
    std::map<std::string, std::string> inputs;
    for (const auto& m : methods) {
        if (!m.external_file.empty()) {
            HA_ASSIGN_OR_RETURN(inputs[m.name], content_fingerprint({m.external_file}));
        }
    }
    for (const auto& data : loaded) {
        std::set<std::string> files;
        for (const auto& t : data.tasks)
            files.insert(t.source_file);
        for (const auto& [author, texts] : data.train) {
            for (const auto& d : texts)
                files.insert(d.source_file);
        }
        HA_ASSIGN_OR_RETURN(inputs["dataset:" + data.name], content_fingerprint(files));
    }
    HA_TRY(check_inputs(config.out, inputs));
    // Generations for no task of this run are ignored; say how many (a wrong id scheme shows).
    std::set<std::string> task_ids;
    for (const auto& d : loaded) {
        for (const auto& t : d.tasks)
            task_ids.insert(t.id);
    }
    for (const auto& m : methods) {
        const auto unused = std::count_if(m.external.begin(), m.external.end(),
                                          [&](const auto& g) { return !task_ids.count(g.first); });
        if (unused > 0) {
            log::warn("{}: {} of its {} generations match no task of this run and are not used",
                      m.external_file, unused, m.external.size());
        }
    }
    for (auto& data : loaded) {
        runs.push_back(std::make_unique<DatasetRun>(generator, judge, config, methods, *records,
                                                    progress, std::move(data)));
    }

    AuthorshipOutcome outcome;
    SpendLog spend(generator, judge, *records);
    auto stage = [&](const std::string& name, const std::function<Status()>& body) {
        return spend.stage(name, body);
    };
    for (auto& run : runs) {
        HA_TRY(stage("profiles", [&] { return run->profiles(); }));
        HA_TRY(stage("generation", [&] { return run->generations(); }));
        HA_TRY(stage("judging", [&] { return run->verdicts(); }));
    }

    Report& report = outcome.report;
    report.title = "Authorship evaluation";
    BarChart bars;
    bars.id = "win_rates";
    bars.title = fmt::format("Win rate against {} (95% bootstrap interval)", config.baseline);
    bars.y_label = "win rate";
    Json datasets = Json::array();
    add_tables(report);
    BarChart stylometry{"stylometry",
                        "Stylometric judge: share attributed to the author",
                        "share attributed",
                        0,
                        1,
                        {}};
    auto stylometry_all = [&]() -> Status {
        for (auto& run : runs)
            HA_TRY(run->stylometry(report, stylometry));
        return {};
    };
    HA_TRY(stage("stylometry", stylometry_all));
    for (auto& run : runs) {
        Json d;
        run->summarize(d, report, bars);
        datasets.push_back(std::move(d));
    }
    report.bars.push_back(bars);
    if (!stylometry.points.empty())
        report.bars.push_back(stylometry);
    std::erase_if(report.tables, [](const Table& t) { return t.rows.empty(); });

    const auto& gi = generator.model_info();
    const auto& ji = judge.model_info();
    report.paragraphs.push_back(fmt::format(
        "Generator: {} ({}); judge: {} ({}). Each method is judged against {} on every task, "
        "in both orders; a verdict that changes with the order is a tie, and ties count half. "
        "Intervals are 95% percentile bootstraps over tasks within authors ({} resamples, seed "
        "{}); the dataset figure is the mean over authors.",
        gi.model, gi.backend, ji.model, ji.backend, config.baseline, config.bootstrap_resamples,
        config.seed));
    for (const auto& run : runs) {
        const auto& d = run->data();
        // What each author's methods saw: the first `demos` texts, or all there are.
        size_t fewest = SIZE_MAX, most = 0;
        for (const auto& a : d.authors) {
            const size_t n = d.train.at(a).size();
            const size_t shown = config.demos ? std::min(config.demos, n) : n;
            fewest = std::min(fewest, shown);
            most = std::max(most, shown);
        }
        const std::string shown =
            fewest == most ? std::to_string(most) : fmt::format("{} to {}", fewest, most);
        report.paragraphs.push_back(
            fmt::format("{}: {} {} by {} {}, {} training {} per author shown to the methods. {}.",
                        d.name, d.tasks.size(), d.tasks.size() == 1 ? "task" : "tasks",
                        d.authors.size(), d.authors.size() == 1 ? "author" : "authors", shown,
                        most == 1 ? "text" : "texts", d.train_note));
    }
    outcome.results =
        Json{{"experiment", "authorship"},
             {"generator", model_identity(gi)},
             {"judge", model_identity(ji)},
             {"judge_prompt", prompt_versions({"judge_authorship"})["judge_authorship"]},
             {"baseline", config.baseline},
             {"methods", config.methods},
             {"seed", config.seed},
             {"demos", config.demos},
             {"datasets", datasets}};
    spend.report(report, outcome.results);
    outcome.spend = spend.stages();
    report.data = outcome.results;
    return outcome;
}

}  // namespace hyperalign::eval
