#include "hyperalign/eval/safety_spec.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "data/jsonl.hpp"
#include "hyperalign/core/log.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/learn/profile_builder.hpp"
#include "hyperalign/learn/rows.hpp"
#include "hyperalign/learn/text_fitter.hpp"
#include "hyperalign/prompts/library.hpp"

namespace hyperalign::eval {
namespace {

using Json = nlohmann::json;

const std::vector<std::string> kLearningTemplates = {
    "safety_task",      "hypotheses_labelled",    "observation_labelled",
    "predict_labelled", "predict_labelled_batch", "json_repair"};

// A reply that repeats at least this much of the reasoning verbatim has it taken out; shorter
// reasonings ("Harmless.") may legitimately recur in an answer.
constexpr size_t kMinEchoChars = 24;

std::string without_trailing_newlines(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
        s.pop_back();
    return s;
}

// The labelled rows in a seeded order: XSTest lists its prompts type by type, and the
// initialisation, which sees only the first rows, needs both labels and several types.
Result<learn::TaskRows> spec_rows(const std::vector<SafetyPrompt>& train, uint64_t seed) {
    learn::TaskRows rows;
    rows.shape = learn::RowShape::labelled;
    rows.labels = {"safe", "unsafe"};
    HA_ASSIGN_OR_RETURN(std::string description, prompts::render("safety_task", "description", {}));
    rows.task_description = without_trailing_newlines(std::move(description));
    size_t safe = 0;
    for (size_t i : learn::seeded_permutation(train.size(), seed)) {
        const SafetyPrompt& p = train[i];
        if (p.label != "safe" && p.label != "unsafe")
            return data::row_error(p.source_file, p.source_line, "label",
                                   "must be \"safe\" or \"unsafe\"");
        if (text::trim(p.prompt).empty())
            return data::row_error(p.source_file, p.source_line, "prompt", "missing or empty");
        safe += p.label == "safe";
        rows.labelled.push_back({p.id, p.prompt, p.label});
    }
    if (safe == 0 || safe == train.size()) {
        return make_error(ErrorCode::invalid_input,
                          fmt::format("a specification is learned from safe and unsafe requests; "
                                      "all {} given are {}",
                                      train.size(), safe == 0 ? "unsafe" : "safe"));
    }
    return rows;
}

// The engine's options for this run: seeded, tagged, and reply allowances that never take more
// than half the context, so that small-context models keep room for the requests.
learn::EngineOptions run_engine(llm::Client& client, const SpecOptions& options) {
    learn::EngineOptions e = options.engine;
    e.sampling.seed = options.seed;
    e.person = options.name;
    const int half = std::max(64, client.backend().info().context_size / 2);
    for (int* allowance : {&e.max_tokens_generate, &e.max_tokens_predict}) {
        if (*allowance > half) {
            log::info("reply allowance lowered from {} to {} tokens to fit the context", *allowance,
                      half);
            *allowance = half;
        }
    }
    return e;
}

std::map<std::string, std::string> parameters(const learn::EngineOptions& e,
                                              const learn::TaskRows& rows) {
    size_t safe = 0;
    for (const auto& r : rows.labelled)
        safe += r.label == "safe";
    const Json p{{"profile_kind", "safety_specification"},
                 {"train_rows", rows.size()},
                 {"train_safe", safe},
                 {"train_unsafe", rows.size() - safe}};
    std::map<std::string, std::string> out = learn::engine_parameters(e);
    for (const auto& [key, value] : p.items())
        out[key] = value.dump();
    return out;
}

Status fill_provenance(llm::Client& client, const learn::TextFitter& fitter,
                       const learn::EngineOptions& engine, const learn::TaskRows& rows,
                       uint32_t seed, Provenance& pv) {
    HA_TRY(learn::record_learning_run(client, fitter, seed, kLearningTemplates, pv));
    pv.parameters = parameters(engine, rows);
    if (pv.texts_cut > 0) {
        log::warn("{} requests were cut to fit the model's context of {} tokens", pv.texts_cut,
                  pv.context_size);
    }
    return {};
}

// The specification's top n hypotheses (pinned ones always), numbered, in its section.
Result<std::string> specification_section(const Profile& spec, int n) {
    std::vector<Hypothesis> ranked = spec.hypotheses;
    rank_by_accuracy(ranked);
    const size_t pinned = size_t(
        std::count_if(ranked.begin(), ranked.end(), [](const Hypothesis& h) { return h.pinned; }));
    ranked.resize(std::min(ranked.size(), std::max(pinned, size_t(std::max(n, 0)))));
    std::string listing;
    for (size_t i = 0; i < ranked.size(); ++i)
        listing += fmt::format("{}. {}\n", i + 1, ranked[i].text);
    HA_ASSIGN_OR_RETURN(std::string section,
                        prompts::render("safety_spec", "system", {{"hypotheses", listing}}));
    return without_trailing_newlines(std::move(section));
}

// The person's system prefix as generate::write would show it; empty without a person.
Result<std::string> person_prefix(llm::Client& client, const std::string& request,
                                  const GuidedOptions& options, const Profile* person) {
    if (person == nullptr)
        return std::string();
    const generate::GenerateOptions& g = options.person_generation;
    HA_ASSIGN_OR_RETURN(auto hypotheses, generate::select_hypotheses(client, *person, g, request));
    return generate::system_prefix(*person, g, hypotheses, &client.backend());
}

// The deliberation's reply schema, its reasoning bounded by the reasoning allowance (about
// two characters per token leaves room for the JSON around it).
Result<llm::JsonSchema> deliberation_schema(int max_tokens_reasoning) {
    HA_ASSIGN_OR_RETURN(std::string text, prompts::schema("deliberate"));
    Json s = Json::parse(text);
    s["properties"]["reasoning"]["maxLength"] = std::max(64, 2 * max_tokens_reasoning);
    return llm::JsonSchema::parse(s.dump());
}

struct Deliberation {
    std::string reasoning;
    std::string decision;
};

// Call 1: the request judged against the specification, as JSON.
Result<Deliberation> deliberate(llm::Client& client, const std::string& request,
                                const std::string& specification, const GuidedOptions& options,
                                const std::string& person) {
    HA_ASSIGN_OR_RETURN(llm::JsonSchema schema, deliberation_schema(options.max_tokens_reasoning));
    prompts::Vars vars{{"specification", specification}, {"request", request}};
    HA_ASSIGN_OR_RETURN(std::string system, prompts::render("deliberate", "system", vars));
    HA_ASSIGN_OR_RETURN(std::string user, prompts::render("deliberate", "user", vars));

    llm::ChatRequest call;
    call.messages = {{"system", std::move(system)}, {"user", std::move(user)}};
    call.prefix_messages = 1;  // the specification, the same for every request
    call.sampling = options.sampling;
    call.sampling.max_tokens = llm::reply_allowance(schema, options.max_tokens_reasoning);
    call.purpose = "deliberation";
    call.person = person;
    auto not_blank = [](const std::string& reply) -> Status {
        if (!text::trim(Json::parse(reply)["reasoning"].get<std::string>()).empty())
            return {};
        Error e = make_error(ErrorCode::bad_model_output, "the reasoning is blank");
        e.field = "reasoning";
        return e;
    };
    HA_ASSIGN_OR_RETURN(std::string reply, client.chat_json(call, schema, not_blank));
    const Json j = Json::parse(reply);
    return Deliberation{text::trim(j["reasoning"].get<std::string>()),
                        j["decision"].get<std::string>()};
}

// The answer without verbatim copies of the reasoning, which must stay out of what the user
// sees.
std::string without_reasoning(std::string answer, const std::string& reasoning) {
    if (reasoning.size() < kMinEchoChars)
        return answer;
    bool cut = false;
    for (size_t at = answer.find(reasoning); at != std::string::npos;
         at = answer.find(reasoning, at)) {
        answer.erase(at, reasoning.size());
        cut = true;
    }
    if (!cut)
        return answer;
    log::warn("the answer repeated the deliberation's reasoning; the copy was taken out");
    return text::trim(answer);
}

Result<GuidedReply> plain_answer(llm::Client& client, const std::string& request,
                                 const GuidedOptions& options, const std::string& prefix,
                                 const std::string& person) {
    llm::ChatRequest call;
    if (!prefix.empty()) {
        call.messages.push_back({"system", prefix});
        call.prefix_messages = 1;
    }
    call.messages.push_back({"user", request});
    call.sampling = options.sampling;
    call.purpose = "generation";
    call.person = person;
    HA_ASSIGN_OR_RETURN(llm::ChatResponse response, client.chat(call));
    GuidedReply reply;
    reply.answer = std::move(response.text);
    return reply;
}

}  // namespace

learn::EngineOptions default_spec_engine() {
    learn::EngineOptions e;
    e.num_init = 10;
    e.init_batch_size = 5;
    e.hypotheses_per_batch = 5;
    e.max_hypotheses = 20;
    return e;
}

Result<Profile> learn_specification(llm::Client& client, const std::vector<SafetyPrompt>& train,
                                    const SpecOptions& options, const learn::Progress& progress) {
    if (train.size() < 2) {
        return make_error(ErrorCode::invalid_input,
                          fmt::format("a specification needs at least 2 labelled requests, got {}",
                                      train.size()));
    }
    HA_ASSIGN_OR_RETURN(learn::TaskRows rows, spec_rows(train, options.seed));
    const learn::EngineOptions engine_options = run_engine(client, options);
    learn::TextFitter fitter(client.backend());
    learn::HypothesisEngine engine(client, fitter, engine_options, progress);

    Profile spec;
    spec.person = options.name;
    HA_ASSIGN_OR_RETURN(spec.hypotheses, engine.learn(rows));
    for (const auto& e : engine.history()) {
        spec.history.push_back(
            {e.kind, e.text, spec.version, e.row, e.accuracy, e.reward, e.reason});
    }
    HA_TRY(fill_provenance(client, fitter, engine_options, rows, options.seed, spec.provenance));
    log::info("learned a safety specification '{}': {} hypotheses from {} requests", options.name,
              spec.hypotheses.size(), rows.size());
    return spec;
}

Result<SafetyMethod> parse_safety_method(std::string_view name) {
    if (name == "plain")
        return SafetyMethod::plain;
    if (name == "spec_guided")
        return SafetyMethod::spec_guided;
    return make_error(ErrorCode::invalid_input,
                      fmt::format("unknown safety method '{}' (plain, spec_guided)", name));
}

std::string_view to_string(SafetyMethod method) {
    return method == SafetyMethod::plain ? "plain" : "spec_guided";
}

Result<GuidedReply> guided_answer(llm::Client& client, const std::string& request,
                                  const GuidedOptions& options, const Profile* specification,
                                  const Profile* person) {
    if (text::trim(request).empty())
        return make_error(ErrorCode::invalid_input, "the request is empty");
    const bool guided = options.method == SafetyMethod::spec_guided;
    if (guided && (specification == nullptr || specification->hypotheses.empty())) {
        return make_error(ErrorCode::invalid_input,
                          "spec_guided needs a specification with hypotheses (learn one from "
                          "XSTest's train half first)");
    }
    const std::string who = person != nullptr ? person->person : "";
    HA_ASSIGN_OR_RETURN(std::string prefix, person_prefix(client, request, options, person));
    if (!guided)
        return plain_answer(client, request, options, prefix, who);

    // Call 1: deliberation. An unusable reply still leaves the answer to be written.
    HA_ASSIGN_OR_RETURN(std::string section,
                        specification_section(*specification, options.top_hypotheses));
    GuidedReply reply;
    auto deliberation = deliberate(client, request, section, options, who);
    if (!deliberation.ok() && deliberation.error().code != ErrorCode::bad_model_output)
        return deliberation.take_error();
    std::string notes;
    if (deliberation.ok()) {
        reply.reasoning = deliberation->reasoning;
        reply.decision = deliberation->decision;
        HA_ASSIGN_OR_RETURN(
            notes, prompts::render("guided_answer", "notes",
                                   {{"reasoning", reply.reasoning}, {"decision", reply.decision}}));
    } else {
        reply.structured_ok = false;
        log::warn("the deliberation reply was unusable ({}); answering without its notes",
                  deliberation.error().message);
        HA_ASSIGN_OR_RETURN(notes, prompts::render("guided_answer", "no_notes", {}));
    }

    // Call 2: the answer, the person's prefix and the specification both in the system message.
    prompts::Vars vars{
        {"person", prefix.empty() ? prefix : without_trailing_newlines(prefix) + "\n\n"},
        {"specification", section},
        {"request", request},
        {"deliberation", without_trailing_newlines(notes)}};
    HA_ASSIGN_OR_RETURN(std::string system, prompts::render("guided_answer", "system", vars));
    HA_ASSIGN_OR_RETURN(std::string user, prompts::render("guided_answer", "user", vars));
    llm::ChatRequest call;
    call.messages = {{"system", std::move(system)}, {"user", std::move(user)}};
    call.prefix_messages = 1;  // the same for every request of this person and specification
    call.sampling = options.sampling;
    call.purpose = "generation";
    call.person = who;
    HA_ASSIGN_OR_RETURN(llm::ChatResponse response, client.chat(call));
    reply.answer = without_reasoning(std::move(response.text), reply.reasoning);
    return reply;
}

}  // namespace hyperalign::eval
