#include "hyperalign/eval/pairwise_judge.hpp"

#include <array>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hyperalign/core/log.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/learn/text_fitter.hpp"
#include "hyperalign/prompts/library.hpp"

namespace hyperalign::eval {
namespace {

using Json = nlohmann::json;

// A task is one instruction, rarely more than a few sentences; a longer one is cut so that it
// cannot crowd out the texts the judge compares.
constexpr int kTaskTokens = 256;

bool is_ascii_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    }
    return true;
}

// `word` without the quotes, brackets, emphasis and punctuation around it (any byte that is not
// an ASCII letter or digit, so typographic quotes go too).
std::string_view strip_word(std::string_view word) {
    while (!word.empty() && !is_ascii_alnum(word.front()))
        word.remove_prefix(1);
    while (!word.empty() && !is_ascii_alnum(word.back()))
        word.remove_suffix(1);
    return word;
}

std::vector<std::string_view> words(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
            ++i;
        size_t start = i;
        while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])))
            ++i;
        if (i > start)
            out.push_back(s.substr(start, i - start));
    }
    return out;
}

Verdict letter(std::string_view s) {
    if (iequals(s, "a"))
        return Verdict::a;
    if (iequals(s, "b"))
        return Verdict::b;
    return Verdict::invalid;
}

// A reply in a Markdown code block ("```json ... ```") without the fence.
std::string_view unfenced(std::string_view s) {
    if (s.substr(0, 3) != "```")
        return s;
    const size_t body = s.find('\n');
    if (body == std::string_view::npos)
        return {};
    s.remove_prefix(body + 1);
    if (const size_t end = s.rfind("```"); end != std::string_view::npos)
        s = s.substr(0, end);
    return s;
}

Verdict json_verdict(std::string_view reply) {
    const Json j = Json::parse(reply, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object())
        return Verdict::invalid;
    const auto it = j.find("winner");
    if (it == j.end() || !it->is_string())
        return Verdict::invalid;
    return letter(text::trim(it->get_ref<const std::string&>()));
}

Verdict bare_verdict(std::string_view reply) {
    static constexpr std::array<std::string_view, 6> kLabels = {"answer",    "winner", "verdict",
                                                                "candidate", "text",   "option"};
    const std::vector<std::string_view> ws = words(reply);
    size_t i = 0;
    while (i < ws.size()) {
        std::string_view w = strip_word(ws[i]);
        bool label = false;
        for (std::string_view l : kLabels)
            label = label || iequals(w, l);
        if (!label)
            break;
        ++i;
    }
    if (i >= ws.size())
        return Verdict::invalid;
    const std::string_view w = strip_word(ws[i]);
    if (w == "A")
        return Verdict::a;
    if (w == "B")
        return Verdict::b;
    // A lower-case letter followed by more words is more likely the article "a".
    return i + 1 == ws.size() ? letter(w) : Verdict::invalid;
}

// What the judge is shown of one pair, cut to fit.
struct Shown {
    std::vector<std::string> references;
    std::string gold;
    std::string task;
    std::string candidate_a;
    std::string candidate_b;
    int reply = 0;
};

Result<int> part_tokens(learn::TextFitter& fitter, const prompts::TemplateInfo& t,
                        const std::string& part) {
    const auto it = t.parts.find(part);
    if (it == t.parts.end()) {
        return make_error(ErrorCode::internal,
                          fmt::format("prompt template '{}' has no part '{}'", t.id, part));
    }
    return fitter.count(it->second);
}

Result<int> parts_tokens(learn::TextFitter& fitter, const prompts::TemplateInfo& t, bool gold,
                         size_t n_references) {
    HA_ASSIGN_OR_RETURN(int system, part_tokens(fitter, t, "system"));
    HA_ASSIGN_OR_RETURN(int user, part_tokens(fitter, t, "user"));
    HA_ASSIGN_OR_RETURN(int reference, part_tokens(fitter, t, "reference"));
    HA_ASSIGN_OR_RETURN(int gold_part, part_tokens(fitter, t, "gold"));
    // A backend without structured output adds the schema to the prompt.
    HA_ASSIGN_OR_RETURN(int schema, fitter.count(t.schema));
    return system + user + int(n_references) * reference + (gold ? gold_part : 0) + schema;
}

// Cuts the references (and the gold text) to share what the context leaves after everything
// else; the candidates are cut only when they alone leave too little.
Result<Shown> fit_pair(learn::TextFitter& fitter, const prompts::TemplateInfo& t,
                       const PairInput& input, const std::vector<std::string_view>& references,
                       const JudgeOptions& options, int reply) {
    Shown s;
    HA_ASSIGN_OR_RETURN(int fixed, parts_tokens(fitter, t, options.with_gold, references.size()));
    HA_ASSIGN_OR_RETURN(s.task, fitter.fit(input.task, kTaskTokens));
    HA_ASSIGN_OR_RETURN(int task_tokens, fitter.count(s.task));
    fixed += task_tokens;
    const int n_texts = int(references.size()) + (options.with_gold ? 1 : 0);

    s.candidate_a = input.candidate_a;
    s.candidate_b = input.candidate_b;
    HA_ASSIGN_OR_RETURN(int a_tokens, fitter.count(s.candidate_a));
    HA_ASSIGN_OR_RETURN(int b_tokens, fitter.count(s.candidate_b));
    auto budget = fitter.budget(fixed + a_tokens + b_tokens, reply, n_texts);
    if (!budget.ok() && budget.error().code == ErrorCode::context_overflow) {
        // The candidates get the same share as a reference, both the same so that neither
        // looks shorter for the cut alone.
        HA_ASSIGN_OR_RETURN(auto shared, fitter.budget(fixed, reply, n_texts + 2));
        HA_ASSIGN_OR_RETURN(s.candidate_a, fitter.fit(input.candidate_a, shared.per_text));
        HA_ASSIGN_OR_RETURN(s.candidate_b, fitter.fit(input.candidate_b, shared.per_text));
        HA_ASSIGN_OR_RETURN(a_tokens, fitter.count(s.candidate_a));
        HA_ASSIGN_OR_RETURN(b_tokens, fitter.count(s.candidate_b));
        log::warn("the judge's candidates were cut to {} tokens each to fit the context",
                  shared.per_text);
        budget = fitter.budget(fixed + a_tokens + b_tokens, reply, n_texts);
    }
    if (!budget.ok())
        return budget.take_error();

    for (std::string_view r : references) {
        HA_ASSIGN_OR_RETURN(std::string cut, fitter.fit(r, budget->per_text));
        s.references.push_back(std::move(cut));
    }
    if (options.with_gold) {
        HA_ASSIGN_OR_RETURN(s.gold, fitter.fit(input.gold, budget->per_text));
    }
    s.reply = budget->reply;
    return s;
}

Result<llm::ChatRequest> judge_request(const Shown& s, const PairInput& input,
                                       const JudgeOptions& options) {
    const std::string id(kJudgeTemplate);
    std::string listing;
    for (size_t i = 0; i < s.references.size(); ++i) {
        HA_ASSIGN_OR_RETURN(std::string item, prompts::render(id, "reference",
                                                              {{"idx", std::to_string(i + 1)},
                                                               {"text", s.references[i]}}));
        listing += item;
    }
    std::string gold_section;
    if (options.with_gold) {
        HA_ASSIGN_OR_RETURN(gold_section, prompts::render(id, "gold", {{"gold", s.gold}}));
    }
    HA_ASSIGN_OR_RETURN(std::string system,
                        prompts::render(id, "system", {{"references", listing}}));
    HA_ASSIGN_OR_RETURN(std::string user, prompts::render(id, "user",
                                                          {{"gold_section", gold_section},
                                                           {"task", s.task},
                                                           {"candidate_a", s.candidate_a},
                                                           {"candidate_b", s.candidate_b}}));

    llm::ChatRequest request;
    request.messages = {{"system", std::move(system)}, {"user", std::move(user)}};
    // The author's references open every judgement of that author.
    request.prefix_messages = 1;
    request.sampling = options.sampling;
    request.sampling.max_tokens = s.reply;
    request.purpose = "judge";
    request.person = input.person;
    return request;
}

}  // namespace

Verdict parse_verdict(std::string_view reply) {
    const std::string trimmed = text::trim(reply);
    const std::string body = text::trim(unfenced(trimmed));
    if (!body.empty() && body.front() == '{')
        return json_verdict(body);
    return bare_verdict(body);
}

Result<JudgeCall> judge_pair(llm::Client& client, const PairInput& input,
                             const JudgeOptions& options) {
    std::vector<std::string_view> references;
    for (const auto& r : input.references) {
        if (options.max_references > 0 && int(references.size()) >= options.max_references)
            break;
        if (!text::trim(r).empty())
            references.push_back(r);
    }
    if (options.with_gold && text::trim(input.gold).empty()) {
        return make_error(ErrorCode::invalid_input,
                          "the judge was asked to show the author's own text for the task, and "
                          "this task has none");
    }
    if (references.empty() && !options.with_gold) {
        return make_error(ErrorCode::invalid_input,
                          "the judge needs at least one text the author wrote to compare with");
    }

    HA_ASSIGN_OR_RETURN(const prompts::TemplateInfo* t, prompts::find(kJudgeTemplate));
    HA_ASSIGN_OR_RETURN(llm::JsonSchema schema, llm::JsonSchema::parse(t->schema));
    learn::TextFitter fitter(client.backend());
    const int reply = llm::reply_allowance(schema, options.sampling.max_tokens);
    HA_ASSIGN_OR_RETURN(Shown shown, fit_pair(fitter, *t, input, references, options, reply));
    HA_ASSIGN_OR_RETURN(llm::ChatRequest request, judge_request(shown, input, options));

    auto answer = client.chat_json(std::move(request), schema);
    if (answer.ok())
        return JudgeCall{parse_verdict(*answer), std::move(answer).value()};
    if (answer.error().code != ErrorCode::bad_model_output)
        return answer.take_error();
    log::warn("a judge reply was unusable and counts as no verdict: {}", answer.error().describe());
    return JudgeCall{Verdict::invalid, answer.error().describe()};
}

Result<PairResult> judge_both_orders(llm::Client& client, const PairInput& base,
                                     const JudgeOptions& options) {
    PairResult out;
    HA_ASSIGN_OR_RETURN(out.method_as_a, judge_pair(client, base, options));

    PairInput swapped = base;
    std::swap(swapped.candidate_a, swapped.candidate_b);
    HA_ASSIGN_OR_RETURN(out.method_as_b, judge_pair(client, swapped, options));

    out.outcome = combine(out.method_as_a.verdict, out.method_as_b.verdict);
    return out;
}

}  // namespace hyperalign::eval
