#include "hyperalign/learn/profile_builder.hpp"

#include <chrono>
#include <ctime>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "hyperalign/core/hash.hpp"
#include "hyperalign/core/log.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/prompts/library.hpp"

namespace hyperalign::learn {
namespace {

using Json = nlohmann::json;

const std::vector<std::string> kTemplatesUsed = {
    "attributes",       "demonstration", "contrast",   "hypotheses_pair",
    "observation_pair", "predict_pair",  "json_repair"};

std::vector<std::string> strings(const Json& j) {
    std::vector<std::string> out;
    for (const auto& s : j)
        out.push_back(s.get<std::string>());
    return out;
}

std::map<std::string, std::string> parameters(const ProfileOptions& o, size_t n_demos) {
    const Json p{{"contrast", o.contrast == ContrastSource::base_model ? "base_model" : "others"},
                 {"attributes", o.attributes},
                 {"hypotheses", o.hypotheses},
                 {"demonstrations", n_demos},
                 {"max_tokens_attributes", o.max_tokens_attributes},
                 {"max_tokens_contrast", o.max_tokens_contrast}};
    std::map<std::string, std::string> out = engine_parameters(o.engine);
    for (const auto& [key, value] : p.items())
        out[key] = value.dump();
    return out;
}

// The options as the run uses them: seeded, tagged with the person, and reply allowances that
// never take more than half the context, so small-context models still leave room for texts.
ProfileOptions run_options(llm::Client& client, const ProfileOptions& options) {
    ProfileOptions opts = options;
    opts.engine.sampling.seed = options.seed;
    opts.engine.person = options.person;
    const int half = std::max(64, client.backend().info().context_size / 2);
    for (int* allowance : {&opts.max_tokens_attributes, &opts.max_tokens_contrast,
                           &opts.engine.max_tokens_generate, &opts.engine.max_tokens_predict}) {
        if (*allowance > half) {
            log::info("reply allowance lowered from {} to {} tokens to fit the context", *allowance,
                      half);
            *allowance = half;
        }
    }
    return opts;
}

// Attributes from one call; an unusable reply leaves them empty, other failures are returned.
Status learn_attributes(llm::Client& client, TextFitter& fitter,
                        const std::vector<Demonstration>& demos, const ProfileOptions& opts,
                        const Progress& progress, Attributes& out) {
    if (progress)
        progress("inferring attributes", 0, 1);
    auto attributes = infer_attributes(client, fitter, demos, opts);
    if (attributes.ok()) {
        out = std::move(attributes).value();
    } else if (attributes.error().code == ErrorCode::bad_model_output) {
        log::warn("the attribute reply was unusable; the profile has no attributes: {}",
                  attributes.error().message);
        out = {};
    } else {
        return attributes.take_error();
    }
    if (progress)
        progress("inferring attributes", 1, 1);
    return {};
}

// Each demonstration beside its contrast, the person's text first in a balanced, seeded half.
Result<TaskRows> pair_rows(llm::Client& client, TextFitter& fitter,
                           const std::vector<Demonstration>& demos, const ProfileOptions& opts,
                           const Progress& progress) {
    std::vector<std::string> contrasts;
    if (opts.contrast == ContrastSource::base_model) {
        HA_ASSIGN_OR_RETURN(contrasts, model_contrasts(client, fitter, demos, opts, progress));
    } else {
        HA_ASSIGN_OR_RETURN(contrasts, pool_contrasts(demos, opts.contrast_pool, opts.seed));
    }
    TaskRows rows;
    rows.shape = RowShape::pair;
    std::vector<bool> first = balanced_positions(demos.size(), opts.seed);
    for (size_t i = 0; i < demos.size(); ++i)
        rows.pairs.push_back({demos[i].id, demos[i].prompt, demos[i].text, contrasts[i], first[i]});
    return rows;
}

void append_history(Profile& profile, const std::vector<BankEvent>& events) {
    for (const auto& e : events) {
        profile.history.push_back(
            {e.kind, e.text, profile.version, e.row, e.accuracy, e.reward, e.reason});
    }
}

// Provenance of this run: model, parameters, prompts, spend, texts cut, time.
Status fill_provenance(llm::Client& client, const TextFitter& fitter, const ProfileOptions& opts,
                       size_t n_demos, Provenance& pv) {
    HA_TRY(record_learning_run(client, fitter, opts.seed, kTemplatesUsed, pv));
    pv.parameters = parameters(opts, n_demos);
    if (pv.texts_cut > 0) {
        log::warn(
            "{} texts were cut to fit the model's context of {} tokens "
            "(rule: docs/limitations.md)",
            pv.texts_cut, pv.context_size);
    }
    return {};
}

ProfileDemonstration kept(const Demonstration& d) {
    return {d.id, d.prompt, d.prompt_derived, d.text, sha256_hex(d.text)};
}

Demonstration loaded(const ProfileDemonstration& d) {
    Demonstration out;
    out.id = d.id;
    out.prompt = d.prompt;
    out.prompt_derived = d.prompt_derived;
    out.text = d.text;
    return out;
}

}  // namespace

Status record_learning_run(llm::Client& client, const TextFitter& fitter, uint32_t seed,
                           const std::vector<std::string>& template_ids, Provenance& pv) {
    const llm::ModelInfo& info = client.backend().info();
    pv.tool_version = HYPERALIGN_VERSION;
    pv.backend = info.backend;
    pv.model = info.model;
    pv.model_sha256 = info.model_sha256;
    pv.chat_template = info.chat_template;
    pv.context_size = info.context_size;
    pv.seed = seed;

    pv.prompt_versions.clear();
    for (const auto& id : template_ids) {
        HA_ASSIGN_OR_RETURN(const prompts::TemplateInfo* t, prompts::find(id));
        pv.prompt_versions[id] = fmt::format("v{}:{}", t->version, t->sha256);
    }
    pv.spend.clear();
    for (const auto& [purpose, s] : client.accounting().by_purpose)
        pv.spend[purpose] = {s.calls, s.failures, s.tokens_prompt, s.tokens_completion};
    pv.texts_cut = fitter.texts_cut();

    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    pv.created_at = buf;
    return {};
}

int automatic_num_init(const EngineOptions& engine, size_t n_demos) {
    if (engine.num_init > 0)
        return engine.num_init;
    // A handful of texts all initialise the bank; from twice the batch size on, half of them
    // do and HypoGenic's online phase learns from the other half (8 texts: 4 and 4).
    const size_t batch = size_t(std::max(1, engine.init_batch_size));
    if (n_demos < 2 * batch)
        return int(n_demos);
    return int(std::max(batch, n_demos / 2));
}

Result<ContrastSource> parse_contrast_source(std::string_view name) {
    if (name == "base_model" || name == "base")
        return ContrastSource::base_model;
    if (name == "others")
        return ContrastSource::others;
    return make_error(ErrorCode::invalid_input,
                      fmt::format("unknown contrast source '{}' (base_model or others)", name));
}

Result<Attributes> infer_attributes(llm::Client& client, TextFitter& fitter,
                                    const std::vector<Demonstration>& demos,
                                    const ProfileOptions& options) {
    HA_ASSIGN_OR_RETURN(const prompts::TemplateInfo* t, prompts::find("attributes"));
    int fixed = 0;
    for (const auto& [_, part] : t->parts) {
        HA_ASSIGN_OR_RETURN(int n, fitter.count(part));
        fixed += n;
    }
    std::vector<std::string> listed_prompts;
    for (const auto& d : demos) {
        HA_ASSIGN_OR_RETURN(std::string p, fitter.fit(d.prompt, kListedPromptTokens));
        HA_ASSIGN_OR_RETURN(int n, fitter.count(p));
        fixed += n + 12;
        listed_prompts.push_back(std::move(p));
    }
    HA_ASSIGN_OR_RETURN(std::string schema_text, prompts::schema("attributes"));
    HA_ASSIGN_OR_RETURN(llm::JsonSchema schema, llm::JsonSchema::parse(schema_text));
    HA_ASSIGN_OR_RETURN(
        auto budget,
        fitter.budget(fixed, llm::reply_allowance(schema, options.max_tokens_attributes),
                      int(demos.size())));
    const int allowance = budget.reply;
    const int per_text = budget.per_text;

    std::string listing;
    for (size_t i = 0; i < demos.size(); ++i) {
        HA_ASSIGN_OR_RETURN(std::string body, fitter.fit(demos[i].text, per_text));
        HA_ASSIGN_OR_RETURN(std::string item, prompts::render("demonstration", "item",
                                                              {{"idx", std::to_string(i + 1)},
                                                               {"prompt", listed_prompts[i]},
                                                               {"text", body}}));
        listing += item;
    }
    prompts::Vars vars{{"count", std::to_string(demos.size())}, {"demonstrations", listing}};
    HA_ASSIGN_OR_RETURN(std::string system, prompts::render("attributes", "system", vars));
    HA_ASSIGN_OR_RETURN(std::string user, prompts::render("attributes", "user", vars));

    llm::ChatRequest request;
    request.messages = {{"system", system}, {"user", user}};
    request.sampling = options.engine.sampling;
    request.sampling.max_tokens = allowance;
    request.purpose = "attributes";
    request.person = options.person;
    auto no_blank = [](const std::string& reply) -> Status {
        const Json j = Json::parse(reply);
        for (const auto& [field, items] : j.items()) {
            for (size_t i = 0; i < items.size(); ++i) {
                if (text::trim(items[i].get<std::string>()).empty()) {
                    Error e = make_error(ErrorCode::bad_model_output, "a statement is blank");
                    e.field = fmt::format("{}[{}]", field, i);
                    return e;
                }
            }
        }
        return {};
    };
    HA_ASSIGN_OR_RETURN(std::string reply, client.chat_json(request, schema, no_blank));
    Json j = Json::parse(reply);
    Attributes a;
    a.writing_style = strings(j["writing_style"]);
    a.personality = strings(j["personality"]);
    a.communication = strings(j["communication"]);
    a.background = strings(j["background"]);
    return a;
}

Result<std::vector<std::string>> model_contrasts(llm::Client& client, TextFitter& fitter,
                                                 const std::vector<Demonstration>& demos,
                                                 const ProfileOptions& options,
                                                 const Progress& progress) {
    std::vector<std::string> out;
    for (size_t i = 0; i < demos.size(); ++i) {
        if (progress)
            progress("writing contrasts", i, demos.size());
        // The contrast answers the same task at about the person's length, so that length alone
        // does not give the person's text away.
        HA_ASSIGN_OR_RETURN(int person_tokens, fitter.count(demos[i].text));
        HA_ASSIGN_OR_RETURN(int prompt_tokens, fitter.count(demos[i].prompt));
        HA_ASSIGN_OR_RETURN(auto room, fitter.budget(prompt_tokens, 0, 1));
        const int reply =
            std::max(16, std::min({options.max_tokens_contrast, person_tokens, room.per_text}));

        HA_ASSIGN_OR_RETURN(std::string user,
                            prompts::render("contrast", "user", {{"task", demos[i].prompt}}));
        llm::ChatRequest request;
        request.messages = {{"user", user}};
        request.sampling = options.engine.sampling;
        request.sampling.max_tokens = reply;
        request.purpose = "contrast";
        request.person = options.person;
        HA_ASSIGN_OR_RETURN(llm::ChatResponse response, client.chat(request));
        out.push_back(std::move(response.text));
    }
    if (progress)
        progress("writing contrasts", demos.size(), demos.size());
    return out;
}

Result<std::vector<std::string>> pool_contrasts(const std::vector<Demonstration>& demos,
                                                const std::vector<Demonstration>& pool,
                                                uint32_t seed) {
    std::set<std::string> own;
    for (const auto& d : demos)
        own.insert(d.text);
    std::vector<const Demonstration*> usable;
    for (const auto& p : pool) {
        if (!own.count(p.text))
            usable.push_back(&p);
    }
    if (usable.empty()) {
        return make_error(ErrorCode::invalid_input,
                          "the contrast pool has no text by anyone else; give other authors' "
                          "texts or use the base_model contrast source");
    }
    // A seeded draw without replacement while the pool lasts.
    std::mt19937_64 rng(seed);
    std::vector<size_t> order(usable.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    for (size_t i = order.size(); i > 1; --i)
        std::swap(order[i - 1], order[size_t(rng() % i)]);
    std::vector<std::string> out;
    for (size_t i = 0; i < demos.size(); ++i)
        out.push_back(usable[order[i % order.size()]]->text);
    return out;
}

Result<Profile> build_profile(llm::Client& client, const std::vector<Demonstration>& demos,
                              const ProfileOptions& options, const Progress& progress) {
    if (demos.size() < 2) {
        return make_error(
            ErrorCode::invalid_input,
            fmt::format("a profile needs at least 2 demonstrations, got {}", demos.size()));
    }
    TextFitter fitter(client.backend());
    ProfileOptions opts = run_options(client, options);
    opts.engine.num_init = automatic_num_init(opts.engine, demos.size());

    Profile profile;
    profile.person = options.person;
    if (opts.attributes)
        HA_TRY(learn_attributes(client, fitter, demos, opts, progress, profile.attributes));

    if (opts.hypotheses) {
        HA_ASSIGN_OR_RETURN(TaskRows rows, pair_rows(client, fitter, demos, opts, progress));
        HypothesisEngine engine(client, fitter, opts.engine, progress);
        HA_ASSIGN_OR_RETURN(profile.hypotheses, engine.learn(rows));
        append_history(profile, engine.history());
    }

    for (const auto& d : demos)
        profile.demonstrations.push_back(kept(d));
    HA_TRY(fill_provenance(client, fitter, opts, demos.size(), profile.provenance));
    return profile;
}

Result<Profile> update_profile(llm::Client& client, const Profile& previous,
                               const std::vector<Demonstration>& new_demos,
                               const ProfileOptions& options, const Progress& progress) {
    // Only texts the profile has not seen are learned from; a known id must keep its text.
    std::map<std::string, const ProfileDemonstration*> known;
    for (const auto& d : previous.demonstrations)
        known[d.id] = &d;
    std::vector<Demonstration> fresh;
    for (const auto& d : new_demos) {
        auto it = known.find(d.id);
        if (it == known.end()) {
            fresh.push_back(d);
        } else if (it->second->text != d.text) {
            Error e = make_error(ErrorCode::invalid_input,
                                 fmt::format("text '{}' is already in the profile with a different "
                                             "text; give the changed text a new id",
                                             d.id));
            e.file = d.source_file;
            e.line = d.source_line;
            return e;
        }
    }
    if (fresh.empty()) {
        return make_error(ErrorCode::invalid_input,
                          fmt::format("no new texts: all {} are already in the profile version {}",
                                      new_demos.size(), previous.version));
    }

    TextFitter fitter(client.backend());
    ProfileOptions opts = options;
    if (opts.person.empty())
        opts.person = previous.person;
    opts = run_options(client, opts);
    Profile profile = previous;
    profile.person = opts.person;
    profile.version = previous.version + 1;
    std::vector<Demonstration> all;
    for (const auto& d : previous.demonstrations)
        all.push_back(loaded(d));
    all.insert(all.end(), fresh.begin(), fresh.end());

    if (opts.attributes && opts.reinfer_attributes)
        HA_TRY(learn_attributes(client, fitter, all, opts, progress, profile.attributes));

    // The online update continues over the new rows only: earlier rows were seen already.
    if (opts.hypotheses) {
        std::vector<std::string> removed;
        for (const auto& e : previous.history) {
            if (e.kind == "removed_by_person")
                removed.push_back(e.text);
        }
        HA_ASSIGN_OR_RETURN(TaskRows rows, pair_rows(client, fitter, fresh, opts, progress));
        HypothesisEngine engine(client, fitter, opts.engine, progress);
        HA_ASSIGN_OR_RETURN(profile.hypotheses,
                            engine.learn_from(previous.hypotheses, rows, 0,
                                              previous.demonstrations.size(), removed));
        append_history(profile, engine.history());
    }

    for (const auto& d : fresh)
        profile.demonstrations.push_back(kept(d));
    HA_TRY(fill_provenance(client, fitter, opts, all.size(), profile.provenance));
    return profile;
}

}  // namespace hyperalign::learn
