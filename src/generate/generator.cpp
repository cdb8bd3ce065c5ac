#include "hyperalign/generate/generator.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "hyperalign/core/log.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/learn/text_fitter.hpp"
#include "hyperalign/prompts/library.hpp"

namespace hyperalign::generate {
namespace {

std::string bullets(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items)
        out += "- " + s + "\n";
    if (out.empty())
        out = "- (none inferred)\n";
    return out;
}

std::string numbered_hypotheses(const Profile& profile, int top) {
    std::string out;
    int n = 0;
    for (const auto& h : profile.hypotheses) {
        if (n >= top)
            break;
        out += fmt::format("{}. {}\n", n + 1, h.text);
        ++n;
    }
    return out;
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

Result<std::string> system_prefix(const Profile& profile, const GenerateOptions& options,
                                  llm::Backend* backend) {
    if (options.method == Method::zero_shot)
        return std::string();
    bool with_attributes =
        options.method == Method::attributes || options.method == Method::hyperalign;
    bool with_hypotheses =
        options.method == Method::hypotheses || options.method == Method::hyperalign;
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
        HA_ASSIGN_OR_RETURN(
            std::string section,
            prompts::render(
                "generate_hypotheses", "system",
                {{"hypotheses", numbered_hypotheses(profile, options.top_hypotheses)}}));
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
    if (text::trim(task).empty()) {
        return make_error(ErrorCode::invalid_input, "the task is empty");
    }
    HA_ASSIGN_OR_RETURN(std::string system, system_prefix(profile, options, backend));
    HA_ASSIGN_OR_RETURN(std::string user,
                        prompts::render("generate_task", "user", {{"task", std::string(task)}}));
    llm::ChatRequest request;
    if (!system.empty()) {
        request.messages.push_back({"system", std::move(system)});
        request.prefix_messages = 1;  // the profile's prefix, the same for every task
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
    HA_ASSIGN_OR_RETURN(llm::ChatRequest request,
                        compose(profile, options, task, &client.backend()));
    return client.chat(request);
}

}  // namespace hyperalign::generate
