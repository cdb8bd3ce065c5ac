#include "hyperalign/learn/hypothesis_engine.hpp"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "hyperalign/core/log.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/prompts/library.hpp"

namespace hyperalign::learn {
namespace {

using Json = nlohmann::json;

bool is_pair(const TaskRows& rows) {
    return rows.shape == RowShape::pair;
}

std::string join_labels(const std::vector<std::string>& labels) {
    std::string out;
    for (size_t i = 0; i < labels.size(); ++i) {
        if (i > 0)
            out += ", ";
        out += labels[i];
    }
    return out;
}

// The reply schema with this call's limits: the number of hypotheses, or the legal labels.
Result<llm::JsonSchema> hypotheses_schema(int n) {
    HA_ASSIGN_OR_RETURN(std::string text, prompts::schema("hypotheses_pair"));
    Json s = Json::parse(text);
    s["properties"]["hypotheses"]["maxItems"] = n;
    return llm::JsonSchema::parse(s.dump());
}

Result<llm::JsonSchema> prediction_schema(const TaskRows& rows) {
    if (is_pair(rows)) {
        HA_ASSIGN_OR_RETURN(std::string text, prompts::schema("predict_pair"));
        return llm::JsonSchema::parse(text);
    }
    HA_ASSIGN_OR_RETURN(std::string text, prompts::schema("predict_labelled"));
    Json s = Json::parse(text);
    s["properties"]["answer"]["enum"] = rows.labels;
    return llm::JsonSchema::parse(s.dump());
}

Status no_blank_hypotheses(const std::string& reply) {
    const Json j = Json::parse(reply);
    const auto& items = j["hypotheses"];
    for (size_t i = 0; i < items.size(); ++i) {
        if (text::trim(items[i].get<std::string>()).size() < 10) {
            Error e = make_error(ErrorCode::bad_model_output,
                                 "a hypothesis must be a statement, not blank space");
            e.field = fmt::format("hypotheses[{}]", i);
            return e;
        }
    }
    return {};
}

}  // namespace

Result<llm::ChatRequest> HypothesisEngine::request_for(const char* template_id,
                                                       const prompts::Vars& vars, int reply,
                                                       const char* purpose) const {
    HA_ASSIGN_OR_RETURN(std::string system, prompts::render(template_id, "system", vars));
    HA_ASSIGN_OR_RETURN(std::string user, prompts::render(template_id, "user", vars));
    llm::ChatRequest request;
    request.messages = {{"system", std::move(system)}, {"user", std::move(user)}};
    request.sampling = options_.sampling;
    request.sampling.max_tokens = reply;
    request.purpose = purpose;
    request.person = options_.person;
    return request;
}

std::vector<std::string> dedup_in_order(const std::vector<std::string>& items) {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& item : items) {
        std::string t = text::trim(item);
        if (t.empty() || !seen.insert(t).second)
            continue;
        out.push_back(std::move(t));
    }
    return out;
}

HypothesisEngine::HypothesisEngine(llm::Client& client, TextFitter& fitter, EngineOptions options,
                                   Progress progress)
    : client_(client), fitter_(fitter), options_(options), progress_(std::move(progress)) {}

Result<std::string> HypothesisEngine::observations(const TaskRows& rows,
                                                   const std::vector<size_t>& batch, int& reply) {
    // Texts share what the context leaves after the instructions and the reply.
    const char* id = is_pair(rows) ? "hypotheses_pair" : "hypotheses_labelled";
    HA_ASSIGN_OR_RETURN(const prompts::TemplateInfo* t, prompts::find(id));
    int fixed = 0;
    for (const auto& [_, part] : t->parts) {
        HA_ASSIGN_OR_RETURN(int n, fitter_.count(part));
        fixed += n;
    }
    fixed += 40 * int(batch.size()) + 64;  // per-observation labels, the task description
    for (size_t i : batch) {
        if (is_pair(rows)) {
            HA_ASSIGN_OR_RETURN(int n, fitter_.count(rows.pairs[i].prompt));
            fixed += n;
        }
    }
    const int n_texts = int(batch.size()) * (is_pair(rows) ? 2 : 1);
    HA_ASSIGN_OR_RETURN(auto budget, fitter_.budget(fixed, reply, n_texts));
    const int per_text = budget.per_text;
    reply = budget.reply;

    std::string out;
    int idx = 1;
    for (size_t i : batch) {
        std::string item;
        if (is_pair(rows)) {
            const PairRow& r = rows.pairs[i];
            HA_ASSIGN_OR_RETURN(std::string a, fitter_.fit(r.text_a(), per_text));
            HA_ASSIGN_OR_RETURN(std::string b, fitter_.fit(r.text_b(), per_text));
            HA_ASSIGN_OR_RETURN(item, prompts::render("observation_pair", "item",
                                                      {{"idx", std::to_string(idx)},
                                                       {"prompt", r.prompt},
                                                       {"text_a", a},
                                                       {"text_b", b},
                                                       {"answer", r.answer()}}));
        } else {
            const LabelledRow& r = rows.labelled[i];
            HA_ASSIGN_OR_RETURN(std::string body, fitter_.fit(r.text, per_text));
            HA_ASSIGN_OR_RETURN(
                item, prompts::render(
                          "observation_labelled", "item",
                          {{"idx", std::to_string(idx)}, {"text", body}, {"label", r.label}}));
        }
        out += item;
        ++idx;
    }
    return out;
}

Result<std::vector<std::string>> HypothesisEngine::generate(const TaskRows& rows,
                                                            const std::vector<size_t>& batch,
                                                            int n) {
    HA_ASSIGN_OR_RETURN(llm::JsonSchema schema, hypotheses_schema(n));
    int reply = llm::reply_allowance(schema, options_.max_tokens_generate);
    HA_ASSIGN_OR_RETURN(std::string obs, observations(rows, batch, reply));
    const char* id = is_pair(rows) ? "hypotheses_pair" : "hypotheses_labelled";
    prompts::Vars vars{{"observations", obs},
                       {"num_hypotheses", std::to_string(n)},
                       {"labels", join_labels(rows.labels)},
                       {"task_description", rows.task_description}};
    HA_ASSIGN_OR_RETURN(llm::ChatRequest request,
                        request_for(id, vars, reply, "hypothesis_generation"));
    auto answer = client_.chat_json(request, schema, no_blank_hypotheses);
    if (!answer.ok()) {
        if (answer.error().code != ErrorCode::bad_model_output)
            return answer.take_error();
        log::warn("a hypothesis-generation reply was unusable and is skipped: {}",
                  answer.error().message);
        return std::vector<std::string>{};
    }
    const Json parsed = Json::parse(*answer);
    std::vector<std::string> items;
    for (const auto& h : parsed["hypotheses"])
        items.push_back(h.get<std::string>());
    return dedup_in_order(items);
}

Result<Verdict> HypothesisEngine::predict(const std::string& hypothesis, const TaskRows& rows,
                                          size_t i) {
    const char* id = is_pair(rows) ? "predict_pair" : "predict_labelled";
    HA_ASSIGN_OR_RETURN(const prompts::TemplateInfo* t, prompts::find(id));
    int fixed = 0;
    for (const auto& [_, part] : t->parts) {
        HA_ASSIGN_OR_RETURN(int n, fitter_.count(part));
        fixed += n;
    }
    HA_ASSIGN_OR_RETURN(int h_tokens, fitter_.count(hypothesis));
    fixed += h_tokens + 64;
    HA_ASSIGN_OR_RETURN(llm::JsonSchema schema, prediction_schema(rows));
    int reply = llm::reply_allowance(schema, options_.max_tokens_predict);

    prompts::Vars vars{{"hypothesis", hypothesis},
                       {"labels", join_labels(rows.labels)},
                       {"task_description", rows.task_description}};
    std::string truth;
    if (is_pair(rows)) {
        const PairRow& r = rows.pairs[i];
        HA_ASSIGN_OR_RETURN(int p_tokens, fitter_.count(r.prompt));
        HA_ASSIGN_OR_RETURN(auto budget, fitter_.budget(fixed + p_tokens, reply, 2));
        reply = budget.reply;
        HA_ASSIGN_OR_RETURN(vars["text_a"], fitter_.fit(r.text_a(), budget.per_text));
        HA_ASSIGN_OR_RETURN(vars["text_b"], fitter_.fit(r.text_b(), budget.per_text));
        vars["prompt"] = r.prompt;
        truth = r.answer();
    } else {
        const LabelledRow& r = rows.labelled[i];
        HA_ASSIGN_OR_RETURN(auto budget, fitter_.budget(fixed, reply, 1));
        reply = budget.reply;
        HA_ASSIGN_OR_RETURN(vars["text"], fitter_.fit(r.text, budget.per_text));
        truth = r.label;
    }
    HA_ASSIGN_OR_RETURN(llm::ChatRequest request, request_for(id, vars, reply, "scoring"));
    // The system message holds the row's texts and is the same for every hypothesis.
    request.prefix_messages = 1;
    auto answer = client_.chat_json(request, schema);
    if (!answer.ok()) {
        if (answer.error().code != ErrorCode::bad_model_output)
            return answer.take_error();
        return Verdict::invalid;
    }
    const std::string label = Json::parse(*answer)["answer"].get<std::string>();
    return label == truth ? Verdict::right : Verdict::wrong;
}

Result<std::vector<Hypothesis>> HypothesisEngine::initialize(const TaskRows& rows) {
    const size_t n_rows = rows.size();
    const size_t n_init =
        options_.num_init > 0 ? std::min(size_t(options_.num_init), n_rows) : n_rows;
    if (n_init == 0)
        return make_error(ErrorCode::invalid_input, "no rows to learn from");
    const size_t block = size_t(std::max(1, options_.init_batch_size));

    // Generate from consecutive blocks of rows.
    std::vector<Hypothesis> bank;
    std::set<std::string> seen;
    const size_t n_blocks = (n_init + block - 1) / block;
    for (size_t b = 0; b < n_blocks; ++b) {
        if (progress_)
            progress_("generating hypotheses", b, n_blocks);
        std::vector<size_t> batch;
        for (size_t i = b * block; i < std::min(n_init, (b + 1) * block); ++i)
            batch.push_back(i);
        HA_ASSIGN_OR_RETURN(auto texts, generate(rows, batch, options_.hypotheses_per_batch));
        for (auto& t : texts) {
            if (!seen.insert(t).second)
                continue;
            Hypothesis h;
            h.text = std::move(t);
            h.origin = fmt::format("init:batch {}", b + 1);
            bank.push_back(std::move(h));
        }
    }
    if (progress_)
        progress_("generating hypotheses", n_blocks, n_blocks);
    if (bank.empty()) {
        return make_error(ErrorCode::bad_model_output,
                          "the model produced no usable hypothesis from any batch");
    }

    // Score every hypothesis on every initialisation row; t = num_init, as in HypoGenic. Row by
    // row, so that consecutive calls share the row's texts as their prompt prefix.
    const size_t total = bank.size() * n_init;
    size_t done = 0;
    for (size_t i = 0; i < n_init; ++i) {
        for (auto& h : bank) {
            if (progress_)
                progress_("scoring hypotheses", done, total);
            HA_ASSIGN_OR_RETURN(Verdict v, predict(h.text, rows, i));
            h.record_visit(v == Verdict::right, v == Verdict::invalid, rows.id(i), int(n_init),
                           options_.alpha);
            ++done;
        }
    }
    if (progress_)
        progress_("scoring hypotheses", total, total);
    rank_by_accuracy(bank);
    return bank;
}

}  // namespace hyperalign::learn
