#include "hyperalign/generate/generator.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hyperalign/core/log.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/learn/text_fitter.hpp"
#include "hyperalign/prompts/library.hpp"

namespace hyperalign::generate {
namespace {

using Json = nlohmann::json;

constexpr int kMaxRelevancePool = 100;  // the schema's integer range stays a listable grammar

std::string bullets(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items)
        out += "- " + s + "\n";
    if (out.empty())
        out = "- (none inferred)\n";
    return out;
}

std::string numbered(const std::vector<Hypothesis>& hypotheses) {
    std::string out;
    for (size_t i = 0; i < hypotheses.size(); ++i)
        out += fmt::format("{}. {}\n", i + 1, hypotheses[i].text);
    return out;
}

bool shows_hypotheses(Method method) {
    return method == Method::hypotheses || method == Method::hyperalign;
}

// The profile's hypotheses in rank_by_accuracy's order (pinned first, then by accuracy; stable,
// so a learned profile keeps its order).
std::vector<Hypothesis> ranked(const Profile& profile) {
    std::vector<Hypothesis> out = profile.hypotheses;
    rank_by_accuracy(out);
    return out;
}

size_t count_pinned(const std::vector<Hypothesis>& ranked) {
    return size_t(
        std::count_if(ranked.begin(), ranked.end(), [](const Hypothesis& h) { return h.pinned; }));
}

// The best n by accuracy, every pinned one kept even past n (the person asked for them).
std::vector<Hypothesis> top_by_accuracy(const Profile& profile, int n) {
    std::vector<Hypothesis> out = ranked(profile);
    size_t keep = std::max(count_pinned(out), size_t(std::max(n, 0)));
    if (out.size() > keep)
        out.resize(keep);
    return out;
}

// The reply schema for a pool of n: numbers 1..n, at most n of them.
Result<llm::JsonSchema> relevance_schema(size_t n) {
    HA_ASSIGN_OR_RETURN(std::string text, prompts::schema("select_relevant"));
    Json s = Json::parse(text);
    Json& list = s["properties"]["relevant"];
    list["maxItems"] = n;
    list["items"]["maximum"] = n;
    return llm::JsonSchema::parse(s.dump());
}

// One call for the whole pool, where HypoGenic's filter_and_weight asks about each hypothesis
// on its own: pool-size times cheaper, at the cost of the model judging them side by side.
// Returns a flag per pool position, or bad_model_output after chat_json's repair.
Result<std::vector<bool>> ask_relevance(llm::Client& client, const Profile& profile,
                                        const GenerateOptions& options,
                                        const std::vector<Hypothesis>& pool,
                                        std::string_view task) {
    HA_ASSIGN_OR_RETURN(llm::JsonSchema schema, relevance_schema(pool.size()));
    prompts::Vars vars{{"hypotheses", numbered(pool)},
                       {"task", std::string(task)},
                       {"count", std::to_string(pool.size())}};
    HA_ASSIGN_OR_RETURN(std::string system, prompts::render("select_relevant", "system", vars));
    HA_ASSIGN_OR_RETURN(std::string user, prompts::render("select_relevant", "user", vars));

    llm::ChatRequest request;
    request.messages = {{"system", std::move(system)}, {"user", std::move(user)}};
    request.prefix_messages = 1;  // the pool, the same for every task of the profile
    request.sampling.seed = options.sampling.seed;
    request.sampling.max_tokens = llm::reply_allowance(schema, options.sampling.max_tokens);
    request.purpose = "selection";
    request.person = profile.person;
    HA_ASSIGN_OR_RETURN(std::string reply, client.chat_json(request, schema));

    const Json parsed = Json::parse(reply);
    std::vector<bool> relevant(pool.size(), false);
    for (const auto& k : parsed["relevant"])
        relevant[k.get<size_t>() - 1] = true;  // the schema bounds k to 1..pool size
    return relevant;
}

Result<std::string> examples_section(const Profile& profile, const GenerateOptions& options,
                                     llm::Backend* backend) {
    size_t n = profile.demonstrations.size();
    if (options.few_shot_examples > 0)
        n = std::min(n, size_t(options.few_shot_examples));
    if (n == 0) {
        return make_error(ErrorCode::invalid_input,
                          "few_shot needs the profile's demonstrations, and it has none");
    }
    std::optional<learn::TextFitter> fitter;
    int per_text = 0;
    if (backend != nullptr) {
        fitter.emplace(*backend);
        int fixed = 64 * int(n) + 160;
        for (size_t i = 0; i < n; ++i) {
            HA_ASSIGN_OR_RETURN(int t, fitter->count(profile.demonstrations[i].prompt));
            fixed += t;
        }
        HA_ASSIGN_OR_RETURN(auto budget,
                            fitter->budget(fixed, options.sampling.max_tokens, int(n)));
        per_text = budget.per_text;
    }
    std::string listing;
    for (size_t i = 0; i < n; ++i) {
        const auto& d = profile.demonstrations[i];
        std::string body = d.text;
        if (fitter) {
            HA_ASSIGN_OR_RETURN(body, fitter->fit(d.text, per_text));
        }
        HA_ASSIGN_OR_RETURN(std::string item, prompts::render("demonstration", "item",
                                                              {{"idx", std::to_string(i + 1)},
                                                               {"prompt", d.prompt},
                                                               {"text", body}}));
        listing += item;
    }
    return prompts::render("generate_examples", "system", {{"examples", listing}});
}

}  // namespace

Result<Method> parse_method(std::string_view name) {
    for (Method m : all_methods()) {
        if (to_string(m) == name)
            return m;
    }
    return make_error(ErrorCode::invalid_input,
                      fmt::format("unknown method '{}' (zero_shot, few_shot, attributes, "
                                  "hypotheses, hyperalign)",
                                  name));
}

std::string_view to_string(Method method) {
    switch (method) {
        case Method::zero_shot:
            return "zero_shot";
        case Method::few_shot:
            return "few_shot";
        case Method::attributes:
            return "attributes";
        case Method::hypotheses:
            return "hypotheses";
        case Method::hyperalign:
            return "hyperalign";
    }
    return "hyperalign";
}

const std::vector<Method>& all_methods() {
    static const std::vector<Method> methods = {Method::zero_shot, Method::few_shot,
                                                Method::attributes, Method::hypotheses,
                                                Method::hyperalign};
    return methods;
}

Result<Selection> parse_selection(std::string_view name) {
    if (name == "top")
        return Selection::top_accuracy;
    if (name == "relevance")
        return Selection::relevance;
    return make_error(ErrorCode::invalid_input,
                      fmt::format("unknown selection '{}' (top, relevance)", name));
}

std::string_view to_string(Selection selection) {
    return selection == Selection::relevance ? "relevance" : "top";
}

Result<std::vector<Hypothesis>> select_hypotheses(llm::Client& client, const Profile& profile,
                                                  const GenerateOptions& options,
                                                  std::string_view task) {
    if (!shows_hypotheses(options.method) || profile.hypotheses.empty())
        return std::vector<Hypothesis>{};
    if (options.selection == Selection::top_accuracy)
        return top_by_accuracy(profile, options.top_hypotheses);
    if (options.relevance_pool < 1 || options.relevance_pool > kMaxRelevancePool) {
        return make_error(ErrorCode::invalid_input,
                          fmt::format("the relevance pool must be 1 to {}, not {}",
                                      kMaxRelevancePool, options.relevance_pool));
    }

    // Pinned hypotheses stay without being judged; the pool is the best of the others.
    std::vector<Hypothesis> all = ranked(profile);
    const size_t pinned = count_pinned(all);
    if (pinned >= size_t(std::max(options.top_hypotheses, 0)) || pinned == all.size())
        return top_by_accuracy(profile, options.top_hypotheses);
    std::vector<Hypothesis> chosen(all.begin(), all.begin() + pinned);
    std::vector<Hypothesis> pool(
        all.begin() + pinned,
        all.begin() + std::min(all.size(), pinned + size_t(options.relevance_pool)));

    auto relevant = ask_relevance(client, profile, options, pool, task);
    if (!relevant.ok() && relevant.error().code != ErrorCode::bad_model_output)
        return relevant.take_error();
    for (size_t i = 0; relevant.ok() && i < pool.size(); ++i) {
        if ((*relevant)[i] && int(chosen.size()) < options.top_hypotheses)
            chosen.push_back(pool[i]);
    }
    if (chosen.size() > pinned)
        return chosen;

    // Generation still goes ahead: the task-independent choice is the sensible default.
    log::warn("{}; using the top {} hypotheses by accuracy",
              relevant.ok() ? "the model judged no hypothesis relevant to the task"
                            : "the relevance reply was unusable",
              options.top_hypotheses);
    return top_by_accuracy(profile, options.top_hypotheses);
}

Result<std::string> system_prefix(const Profile& profile, const GenerateOptions& options,
                                  llm::Backend* backend) {
    if (options.selection == Selection::relevance && shows_hypotheses(options.method)) {
        return make_error(ErrorCode::invalid_input,
                          "relevance selection needs a model call: choose the hypotheses with "
                          "select_hypotheses first");
    }
    return system_prefix(profile, options, top_by_accuracy(profile, options.top_hypotheses),
                         backend);
}

Result<std::string> system_prefix(const Profile& profile, const GenerateOptions& options,
                                  const std::vector<Hypothesis>& hypotheses,
                                  llm::Backend* backend) {
    if (options.method == Method::zero_shot)
        return std::string();
    bool with_attributes =
        options.method == Method::attributes || options.method == Method::hyperalign;
    bool with_hypotheses = shows_hypotheses(options.method);
    // hyperalign uses what the profile has, and says so when a part is missing (a model whose
    // attribute reply failed still gives a usable profile); a method named after one part
    // needs that part.
    if (options.method == Method::hyperalign) {
        if (profile.attributes.empty() && profile.hypotheses.empty()) {
            return make_error(ErrorCode::invalid_input,
                              "method hyperalign needs attributes or hypotheses, and the profile "
                              "has neither");
        }
        if (profile.attributes.empty()) {
            log::warn("the profile has no attributes; generating with its hypotheses only");
            with_attributes = false;
        }
        if (profile.hypotheses.empty()) {
            log::warn("the profile has no hypotheses; generating with its attributes only");
            with_hypotheses = false;
        }
    }
    if (with_hypotheses && profile.hypotheses.empty()) {
        return make_error(ErrorCode::invalid_input,
                          fmt::format("method {} needs hypotheses, and the profile has none",
                                      to_string(options.method)));
    }
    if (with_attributes && profile.attributes.empty()) {
        return make_error(ErrorCode::invalid_input,
                          fmt::format("method {} needs attributes, and the profile has none",
                                      to_string(options.method)));
    }

    HA_ASSIGN_OR_RETURN(std::string out, prompts::render("generate_intro", "system", {}));
    if (with_attributes) {
        const Attributes& a = profile.attributes;
        HA_ASSIGN_OR_RETURN(std::string section,
                            prompts::render("generate_attributes", "system",
                                            {{"writing_style", bullets(a.writing_style)},
                                             {"personality", bullets(a.personality)},
                                             {"communication", bullets(a.communication)},
                                             {"background", bullets(a.background)}}));
        out += section;
    }
    if (with_hypotheses) {
        HA_ASSIGN_OR_RETURN(std::string section,
                            prompts::render("generate_hypotheses", "system",
                                            {{"hypotheses", numbered(hypotheses)}}));
        out += section;
    }
    if (options.method == Method::few_shot) {
        HA_ASSIGN_OR_RETURN(std::string section, examples_section(profile, options, backend));
        out += section;
    }
    return out;
}

Result<llm::ChatRequest> compose(const Profile& profile, const GenerateOptions& options,
                                 std::string_view task, llm::Backend* backend) {
    if (options.selection == Selection::relevance && shows_hypotheses(options.method)) {
        return make_error(ErrorCode::invalid_input,
                          "relevance selection needs a model call: choose the hypotheses with "
                          "select_hypotheses first");
    }
    return compose(profile, options, task, top_by_accuracy(profile, options.top_hypotheses),
                   backend);
}

Result<llm::ChatRequest> compose(const Profile& profile, const GenerateOptions& options,
                                 std::string_view task, const std::vector<Hypothesis>& hypotheses,
                                 llm::Backend* backend) {
    if (text::trim(task).empty()) {
        return make_error(ErrorCode::invalid_input, "the task is empty");
    }
    HA_ASSIGN_OR_RETURN(std::string system, system_prefix(profile, options, hypotheses, backend));
    HA_ASSIGN_OR_RETURN(std::string user,
                        prompts::render("generate_task", "user", {{"task", std::string(task)}}));
    llm::ChatRequest request;
    if (!system.empty()) {
        request.messages.push_back({"system", std::move(system)});
        request.prefix_messages = 1;  // the profile's prefix (with top_accuracy, every task's)
    }
    request.messages.push_back({"user", std::move(user)});
    request.sampling = options.sampling;
    request.purpose = "generation";
    request.on_text = options.on_text;
    request.person = profile.person;
    return request;
}

Result<llm::ChatResponse> write(llm::Client& client, const Profile& profile,
                                const GenerateOptions& options, std::string_view task) {
    if (text::trim(task).empty()) {
        return make_error(ErrorCode::invalid_input, "the task is empty");
    }
    HA_ASSIGN_OR_RETURN(auto hypotheses, select_hypotheses(client, profile, options, task));
    HA_ASSIGN_OR_RETURN(llm::ChatRequest request,
                        compose(profile, options, task, hypotheses, &client.backend()));
    return client.chat(request);
}

}  // namespace hyperalign::generate
