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

// The batch reply schema for n hypotheses: exactly n predictions, numbers 1..n, legal answers.
Result<llm::JsonSchema> batch_schema(const TaskRows& rows, size_t n) {
    HA_ASSIGN_OR_RETURN(std::string text, prompts::schema("predict_pair_batch"));
    Json s = Json::parse(text);
    Json& list = s["properties"]["predictions"];
    list["minItems"] = n;
    list["maxItems"] = n;
    list["items"]["properties"]["hypothesis"]["maximum"] = n;
    if (!is_pair(rows))
        list["items"]["properties"]["answer"]["enum"] = rows.labels;
    return llm::JsonSchema::parse(s.dump());
}

// The schema bounds the count and the numbers; this adds that no hypothesis is answered twice
// (with n entries, none is then missing).
llm::Client::Check each_hypothesis_once(size_t n) {
    return [n](const std::string& reply) -> Status {
        const Json j = Json::parse(reply);
        const auto& items = j["predictions"];
        std::vector<bool> seen(n + 1, false);
        for (size_t k = 0; k < items.size(); ++k) {
            const int64_t h = items[k]["hypothesis"].get<int64_t>();
            std::string problem;
            if (h < 1 || uint64_t(h) > n)
                problem = fmt::format("hypothesis {} does not exist (1 to {})", h, n);
            else if (seen[size_t(h)])
                problem = fmt::format("hypothesis {} is answered twice", h);
            if (!problem.empty()) {
                Error e = make_error(ErrorCode::bad_model_output,
                                     problem + "; give exactly one prediction per hypothesis");
                e.field = fmt::format("predictions[{}].hypothesis", k);
                return e;
            }
            seen[size_t(h)] = true;
        }
        for (size_t h = 1; h <= n; ++h) {
            if (!seen[h]) {
                Error e = make_error(ErrorCode::bad_model_output,
                                     fmt::format("hypothesis {} has no prediction", h));
                e.field = "predictions";
                return e;
            }
        }
        return {};
    };
}

// Hypotheses per scoring call.
size_t hypotheses_per_call(const EngineOptions& o) {
    return size_t(std::max(1, o.scoring_batch));
}

// The hypotheses of a batch prompt, numbered from 1, one a line.
std::string numbered(const std::vector<std::string>& hypotheses) {
    std::string out;
    for (size_t k = 0; k < hypotheses.size(); ++k)
        out += fmt::format("{}. {}\n", k + 1, hypotheses[k]);
    return out;
}

// Tokens of a template's parts, before substitution.
Result<int> template_tokens(TextFitter& fitter, const char* id) {
    HA_ASSIGN_OR_RETURN(const prompts::TemplateInfo* t, prompts::find(id));
    int total = 0;
    for (const auto& [_, part] : t->parts) {
        HA_ASSIGN_OR_RETURN(int n, fitter.count(part));
        total += n;
    }
    return total;
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

std::map<std::string, std::string> engine_parameters(const EngineOptions& o) {
    const Json p{{"num_init", o.num_init},
                 {"init_batch_size", o.init_batch_size},
                 {"hypotheses_per_batch", o.hypotheses_per_batch},
                 {"max_hypotheses", o.max_hypotheses},
                 {"alpha", o.alpha},
                 {"k", o.k},
                 {"num_wrong_scale", o.num_wrong_scale},
                 {"update_batch_size", o.update_batch_size},
                 {"num_hypotheses_to_update", o.num_hypotheses_to_update},
                 {"update_hypotheses_per_batch", o.update_hypotheses_per_batch},
                 {"only_best_hypothesis", o.only_best_hypothesis},
                 {"scoring_batch", o.scoring_batch},
                 {"temperature", o.sampling.temperature},
                 {"top_p", o.sampling.top_p},
                 {"top_k", o.sampling.top_k},
                 {"max_tokens_generate", o.max_tokens_generate},
                 {"max_tokens_predict", o.max_tokens_predict}};
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : p.items())
        out[key] = value.dump();
    return out;
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
    std::vector<std::string> listed_prompts;
    for (size_t i : batch) {
        if (is_pair(rows)) {
            HA_ASSIGN_OR_RETURN(std::string p,
                                fitter_.fit(rows.pairs[i].prompt, kListedPromptTokens));
            HA_ASSIGN_OR_RETURN(int n, fitter_.count(p));
            fixed += n;
            listed_prompts.push_back(std::move(p));
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
            const std::string& prompt = listed_prompts[size_t(idx - 1)];
            HA_ASSIGN_OR_RETURN(std::string a, fitter_.fit(r.text_a(), per_text));
            HA_ASSIGN_OR_RETURN(std::string b, fitter_.fit(r.text_b(), per_text));
            HA_ASSIGN_OR_RETURN(item, prompts::render("observation_pair", "item",
                                                      {{"idx", std::to_string(idx)},
                                                       {"prompt", prompt},
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

Result<std::string> HypothesisEngine::row_vars(const TaskRows& rows, size_t i, int fixed,
                                               int& reply, prompts::Vars& vars) {
    if (is_pair(rows)) {
        const PairRow& r = rows.pairs[i];
        HA_ASSIGN_OR_RETURN(int p_tokens, fitter_.count(r.prompt));
        HA_ASSIGN_OR_RETURN(auto budget, fitter_.budget(fixed + p_tokens, reply, 2));
        reply = budget.reply;
        HA_ASSIGN_OR_RETURN(vars["text_a"], fitter_.fit(r.text_a(), budget.per_text));
        HA_ASSIGN_OR_RETURN(vars["text_b"], fitter_.fit(r.text_b(), budget.per_text));
        vars["prompt"] = r.prompt;
        return std::string(r.answer());
    }
    const LabelledRow& r = rows.labelled[i];
    HA_ASSIGN_OR_RETURN(auto budget, fitter_.budget(fixed, reply, 1));
    reply = budget.reply;
    HA_ASSIGN_OR_RETURN(vars["text"], fitter_.fit(r.text, budget.per_text));
    return r.label;
}

Result<Verdict> HypothesisEngine::predict(const std::string& hypothesis, const TaskRows& rows,
                                          size_t i) {
    const char* id = is_pair(rows) ? "predict_pair" : "predict_labelled";
    HA_ASSIGN_OR_RETURN(int fixed, template_tokens(fitter_, id));
    HA_ASSIGN_OR_RETURN(int h_tokens, fitter_.count(hypothesis));
    fixed += h_tokens + 64;
    HA_ASSIGN_OR_RETURN(llm::JsonSchema schema, prediction_schema(rows));
    int reply = llm::reply_allowance(schema, options_.max_tokens_predict);

    prompts::Vars vars{{"hypothesis", hypothesis},
                       {"labels", join_labels(rows.labels)},
                       {"task_description", rows.task_description}};
    HA_ASSIGN_OR_RETURN(std::string truth, row_vars(rows, i, fixed, reply, vars));
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

Result<std::vector<Verdict>> HypothesisEngine::predict_batch(
    const std::vector<std::string>& hypotheses, const TaskRows& rows, size_t i) {
    return predict_group(hypotheses, rows, i, {});
}

Result<std::vector<Verdict>> HypothesisEngine::predict_group(
    const std::vector<std::string>& hypotheses, const TaskRows& rows, size_t i,
    const GroupReserve& reserve) {
    const size_t n = hypotheses.size();
    if (n == 0)
        return std::vector<Verdict>{};
    const std::string listing = numbered(hypotheses);

    const char* id = is_pair(rows) ? "predict_pair_batch" : "predict_labelled_batch";
    HA_ASSIGN_OR_RETURN(int fixed, template_tokens(fitter_, id));
    HA_ASSIGN_OR_RETURN(int h_tokens, fitter_.count(listing));
    fixed += std::max(h_tokens, reserve.listing) + 64;
    HA_ASSIGN_OR_RETURN(llm::JsonSchema schema, batch_schema(rows, n));
    int reply = std::max(reply_for_group(schema, n), reserve.reply);

    prompts::Vars vars{{"hypotheses", listing},
                       {"count", std::to_string(n)},
                       {"labels", join_labels(rows.labels)},
                       {"task_description", rows.task_description}};
    HA_ASSIGN_OR_RETURN(std::string truth, row_vars(rows, i, fixed, reply, vars));
    HA_ASSIGN_OR_RETURN(llm::ChatRequest request, request_for(id, vars, reply, "scoring"));
    // The same row's texts open every batch on it, as they open every single prediction.
    request.prefix_messages = 1;
    auto answer = client_.chat_json(request, schema, each_hypothesis_once(n));
    if (!answer.ok()) {
        if (answer.error().code != ErrorCode::bad_model_output)
            return answer.take_error();
        return std::vector<Verdict>(n, Verdict::invalid);
    }
    std::vector<Verdict> verdicts(n, Verdict::invalid);
    const Json reply_json = Json::parse(*answer);
    for (const auto& p : reply_json["predictions"]) {
        const size_t k = size_t(p["hypothesis"].get<int64_t>() - 1);
        verdicts[k] = p["answer"].get<std::string>() == truth ? Verdict::right : Verdict::wrong;
    }
    return verdicts;
}

int HypothesisEngine::reply_for_group(const llm::JsonSchema& schema, size_t n) const {
    // As much room as n single calls would have, though the schema's bound is far smaller.
    return llm::reply_allowance(schema, options_.max_tokens_predict * int(n));
}

Result<std::vector<Verdict>> HypothesisEngine::predict_row(
    const std::vector<std::string>& hypotheses, const TaskRows& rows, size_t i) {
    const size_t per_call = hypotheses_per_call(options_);
    HA_ASSIGN_OR_RETURN(GroupReserve reserve, group_reserve(rows, hypotheses));
    std::vector<Verdict> verdicts;
    for (size_t from = 0; from < hypotheses.size(); from += per_call) {
        const auto to = hypotheses.begin() + long(std::min(hypotheses.size(), from + per_call));
        HA_ASSIGN_OR_RETURN(auto group,
                            judge({hypotheses.begin() + long(from), to}, rows, i, reserve));
        verdicts.insert(verdicts.end(), group.begin(), group.end());
    }
    return verdicts;
}

Result<HypothesisEngine::GroupReserve> HypothesisEngine::group_reserve(
    const TaskRows& rows, const std::vector<std::string>& texts) {
    const size_t per_call = hypotheses_per_call(options_);
    GroupReserve reserve;
    if (per_call == 1 || texts.empty())
        return reserve;
    for (size_t from = 0; from < texts.size(); from += per_call) {
        const auto to = texts.begin() + long(std::min(texts.size(), from + per_call));
        HA_ASSIGN_OR_RETURN(int n, fitter_.count(numbered({texts.begin() + long(from), to})));
        reserve.listing = std::max(reserve.listing, n);
    }
    // The first group is the largest and needs the longest reply.
    const size_t largest = std::min(per_call, texts.size());
    HA_ASSIGN_OR_RETURN(llm::JsonSchema schema, batch_schema(rows, largest));
    reserve.reply = reply_for_group(schema, largest);
    return reserve;
}

Result<std::vector<Verdict>> HypothesisEngine::judge(const std::vector<std::string>& texts,
                                                     const TaskRows& rows, size_t i,
                                                     const GroupReserve& reserve) {
    if (options_.scoring_batch > 1)
        return predict_group(texts, rows, i, reserve);
    std::vector<Verdict> verdicts;
    for (const auto& text : texts) {
        HA_ASSIGN_OR_RETURN(Verdict v, predict(text, rows, i));
        verdicts.push_back(v);
    }
    return verdicts;
}

namespace {

size_t init_rows(const EngineOptions& o, size_t n_rows) {
    return o.num_init > 0 ? std::min(size_t(o.num_init), n_rows) : n_rows;
}

BankEvent event(std::string kind, const Hypothesis& h, int row, std::string reason) {
    return {std::move(kind), h.text, row, h.accuracy, h.reward, std::move(reason)};
}

const Hypothesis* find_text(const std::vector<Hypothesis>& hs, const std::string& text) {
    auto it =
        std::find_if(hs.begin(), hs.end(), [&](const Hypothesis& h) { return h.text == text; });
    return it == hs.end() ? nullptr : &*it;
}

Status check_update_options(const EngineOptions& o) {
    const std::pair<const char*, int> positive[] = {
        {"max_hypotheses", o.max_hypotheses},
        {"update_batch_size", o.update_batch_size},
        {"num_hypotheses_to_update", o.num_hypotheses_to_update},
        {"update_hypotheses_per_batch", o.update_hypotheses_per_batch}};
    for (const auto& [name, value] : positive) {
        if (value < 1) {
            Error e = make_error(ErrorCode::invalid_input,
                                 fmt::format("{} must be at least 1, not {}", name, value));
            e.field = name;
            return e;
        }
    }
    return {};
}

std::string row_list(const std::vector<size_t>& rows) {
    std::string out;
    for (size_t r : rows) {
        if (!out.empty())
            out += ", ";
        out += std::to_string(r);
    }
    return out;
}

}  // namespace

double wrong_threshold(size_t tested, size_t i, size_t n, double scale) {
    // HypoGenic leaves the threshold unassigned (a crash) for scale <= 0; we read it as "no
    // regret needed". The operation order is Python's: ((tested * i) / n) * scale.
    if (scale <= 0 || n == 0)
        return 0.0;
    return double(tested * i) / double(n) * scale;
}

std::vector<size_t> top_by_reward(const std::vector<Hypothesis>& bank, int k) {
    std::vector<size_t> order(bank.size());
    for (size_t b = 0; b < order.size(); ++b)
        order[b] = b;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return bank[a].reward > bank[b].reward; });
    if (k >= 0 && size_t(k) < order.size())
        order.resize(size_t(k));
    return order;
}

Result<std::vector<Hypothesis>> HypothesisEngine::initialize(const TaskRows& rows) {
    history_.clear();
    HA_ASSIGN_OR_RETURN(auto bank, initial_bank(rows, init_rows(options_, rows.size())));
    rank_by_accuracy(bank);
    return bank;
}

Status HypothesisEngine::score(const TaskRows& rows, const std::vector<size_t>& pool, int t,
                               const std::vector<Hypothesis*>& hypotheses) {
    const size_t total = hypotheses.size() * pool.size();
    const size_t per_call = hypotheses_per_call(options_);
    std::vector<std::string> all;
    for (const Hypothesis* h : hypotheses)
        all.push_back(h->text);
    HA_ASSIGN_OR_RETURN(GroupReserve reserve, group_reserve(rows, all));
    size_t done = 0;
    for (size_t i : pool) {
        for (size_t from = 0; from < hypotheses.size(); from += per_call) {
            if (progress_)
                progress_("scoring hypotheses", done, total);
            const size_t to = std::min(hypotheses.size(), from + per_call);
            const std::vector<std::string> texts(all.begin() + long(from), all.begin() + long(to));
            HA_ASSIGN_OR_RETURN(auto verdicts, judge(texts, rows, i, reserve));
            for (size_t h = from; h < to; ++h) {
                const Verdict v = verdicts[h - from];
                hypotheses[h]->record_visit(v == Verdict::right, v == Verdict::invalid, rows.id(i),
                                            t, options_.alpha);
            }
            done += to - from;
        }
    }
    if (progress_)
        progress_("scoring hypotheses", total, total);
    return {};
}

Result<std::vector<Hypothesis>> HypothesisEngine::initial_bank(const TaskRows& rows,
                                                               size_t n_init) {
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

    // Score every hypothesis on every initialisation row; t = num_init, as in HypoGenic.
    std::vector<size_t> init(n_init);
    for (size_t i = 0; i < n_init; ++i)
        init[i] = i;
    std::vector<Hypothesis*> all;
    for (auto& h : bank)
        all.push_back(&h);
    HA_TRY(score(rows, init, int(n_init), all));
    for (const auto& h : bank)
        history_.push_back(event("added", h, -1, h.origin));
    return bank;
}

Result<std::vector<Hypothesis>> HypothesisEngine::regenerate(const TaskRows& rows,
                                                             const std::vector<size_t>& pool,
                                                             size_t i,
                                                             const std::vector<Hypothesis>& bank) {
    const int t = int(i + 1);
    std::vector<Hypothesis> fresh;
    for (int r = 0; r < options_.num_hypotheses_to_update; ++r) {
        HA_ASSIGN_OR_RETURN(auto texts, generate(rows, pool, options_.update_hypotheses_per_batch));

        // Records that scoring would not change are copied, saving |pool| calls each: a text
        // already generated from this pool at this t (same prompt, greedy decoding), or one
        // already in the bank, whose record the replacement keeps anyway (unless only the best
        // of a prompt is kept: then it competes with its score on the pool, as in HypoGenic).
        std::vector<Hypothesis> batch;
        std::vector<Hypothesis*> unscored;
        batch.reserve(texts.size());
        for (auto& text : texts) {
            const Hypothesis* known = find_text(fresh, text);
            if (!known && !options_.only_best_hypothesis)
                known = find_text(bank, text);
            if (known) {
                batch.push_back(*known);
                continue;
            }
            Hypothesis h;
            h.text = std::move(text);
            h.origin = fmt::format("update:row {}", i);
            batch.push_back(std::move(h));
            unscored.push_back(&batch.back());  // stable: capacity reserved for every text
        }
        HA_TRY(score(rows, pool, t, unscored));

        // Python's max() keeps the first of equal rewards.
        if (options_.only_best_hypothesis && !batch.empty()) {
            size_t best = 0;
            for (size_t b = 1; b < batch.size(); ++b) {
                if (batch[b].reward > batch[best].reward)
                    best = b;
            }
            for (size_t b = 0; b < batch.size(); ++b) {
                if (b != best)
                    history_.push_back(
                        event("rejected", batch[b], int(i), "not the best of its prompt"));
            }
            batch = {std::move(batch[best])};
        }

        // HypoGenic merges the replies in a dict: a repeated text keeps its first position
        // and takes the later record.
        for (auto& h : batch) {
            auto it = std::find_if(fresh.begin(), fresh.end(),
                                   [&](const Hypothesis& f) { return f.text == h.text; });
            if (it != fresh.end())
                *it = std::move(h);
            else
                fresh.push_back(std::move(h));
        }
    }
    return fresh;
}

void HypothesisEngine::replace(std::vector<Hypothesis>& bank, std::vector<Hypothesis> fresh,
                               size_t i, const std::string& why_added) {
    // merged = fresh, then updated with the bank (HypoGenic's dict merge): a text in both keeps
    // its place among the fresh ones and the bank's record.
    std::vector<Hypothesis> merged;
    std::vector<bool> is_new;
    std::set<std::string> in_fresh;
    for (auto& h : fresh) {
        in_fresh.insert(h.text);
        if (const Hypothesis* old = find_text(bank, h.text)) {
            history_.push_back(
                event("duplicate", *old, int(i), "regenerated; the bank's record is kept"));
            merged.push_back(*old);
            is_new.push_back(false);
        } else {
            merged.push_back(std::move(h));
            is_new.push_back(true);
        }
    }
    for (auto& h : bank) {
        if (in_fresh.count(h.text) == 0) {
            merged.push_back(std::move(h));
            is_new.push_back(false);
        }
    }

    // Keep the max_hypotheses of highest reward; ties keep merge order (Python's stable sort).
    // Hypotheses the person pinned or added stay whatever their reward, and take their places
    // out of the max_hypotheses.
    std::vector<size_t> order = top_by_reward(merged, -1);
    const size_t by_person = size_t(std::count_if(
        merged.begin(), merged.end(), [](const Hypothesis& h) { return h.kept_by_person(); }));
    const size_t keep = size_t(std::max<long>(0, long(options_.max_hypotheses) - long(by_person)));
    const std::string below = fmt::format("below the top {} by reward", options_.max_hypotheses);
    bank.clear();
    size_t kept = 0;
    for (size_t o = 0; o < order.size(); ++o) {
        Hypothesis& h = merged[order[o]];
        const bool fresh_one = is_new[order[o]];
        if (h.kept_by_person()) {
            bank.push_back(std::move(h));
        } else if (kept++ < keep) {
            if (fresh_one)
                history_.push_back(event("added", h, int(i), why_added));
            bank.push_back(std::move(h));
        } else {
            history_.push_back(event(fresh_one ? "rejected" : "dropped", h, int(i), below));
        }
    }
}

Result<std::vector<Hypothesis>> HypothesisEngine::learn(const TaskRows& rows) {
    history_.clear();
    HA_TRY(check_update_options(options_));
    const size_t n_init = init_rows(options_, rows.size());
    HA_ASSIGN_OR_RETURN(auto bank, initial_bank(rows, n_init));
    HA_TRY(online_update(bank, rows, n_init, n_init, {}));
    rank_by_accuracy(bank);
    return bank;
}

Result<std::vector<Hypothesis>> HypothesisEngine::learn_from(
    std::vector<Hypothesis> bank, const TaskRows& rows, size_t first_new_row, size_t rows_seen,
    const std::vector<std::string>& never_add) {
    history_.clear();
    HA_TRY(check_update_options(options_));
    if (first_new_row > rows.size())
        return make_error(ErrorCode::invalid_input, "the first new row is past the last row");
    HA_TRY(online_update(bank, rows, first_new_row, rows_seen, never_add));
    rank_by_accuracy(bank);
    return bank;
}

Status HypothesisEngine::online_update(std::vector<Hypothesis>& bank, const TaskRows& rows,
                                       size_t first, size_t seen,
                                       const std::vector<std::string>& never_add) {
    const double alpha = options_.alpha;
    const size_t pool_size =
        size_t(options_.update_batch_size) * size_t(options_.num_hypotheses_to_update);
    const size_t n = rows.size();
    // Row i of `rows` is row g = seen + (i - first) of everything learned from, of n_all.
    const size_t n_all = seen + (n - first);
    std::vector<size_t> pool;
    int regenerations = 0;
    for (size_t i = first; i < n; ++i) {
        if (progress_)
            progress_("updating hypotheses", i - first, n - first);
        const size_t g = seen + (i - first);
        const int t = int(g + 1);

        // UCB compares every arm at the same t. HypoGenic refreshes a reward only when its entry
        // is visited, so an untested hypothesis keeps the smaller exploration bonus of an older
        // t and falls behind; we refresh the whole bank first.
        for (auto& h : bank)
            h.refresh_reward(t, alpha);
        const std::vector<size_t> tested = top_by_reward(bank, options_.k);
        std::vector<std::string> texts;
        for (size_t b : tested)
            texts.push_back(bank[b].text);
        HA_ASSIGN_OR_RETURN(auto verdicts, predict_row(texts, rows, i));
        size_t wrong = 0;
        for (size_t s = 0; s < tested.size(); ++s) {
            const Verdict v = verdicts[s];
            bank[tested[s]].record_visit(v == Verdict::right, v == Verdict::invalid, rows.id(i), t,
                                         alpha);
            wrong += v == Verdict::right ? 0 : 1;
        }

        const double threshold = wrong_threshold(tested.size(), g, n_all, options_.num_wrong_scale);
        if (!tested.empty() && double(wrong) < threshold)
            continue;
        pool.push_back(i);
        if (pool.size() < pool_size)
            continue;
        HA_ASSIGN_OR_RETURN(auto fresh, regenerate(rows, pool, g, bank));

        // A text the person removed never comes back.
        std::erase_if(fresh, [&](const Hypothesis& h) {
            if (std::find(never_add.begin(), never_add.end(), h.text) == never_add.end())
                return false;
            history_.push_back(event("rejected", h, int(g), "removed by the person"));
            return true;
        });
        std::vector<size_t> numbered;
        for (size_t p : pool)
            numbered.push_back(seen + (p - first));
        replace(bank, std::move(fresh), g, "generated from hard rows " + row_list(numbered));
        pool.clear();
        ++regenerations;
    }
    if (progress_ && n > first)
        progress_("updating hypotheses", n - first, n - first);

    log::info("hypotheses: {} rows ({} before the online update), {} regenerations, {} in the bank",
              n_all, seen, regenerations, bank.size());
    return {};
}

}  // namespace hyperalign::learn
