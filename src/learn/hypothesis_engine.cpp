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
    size_t done = 0;
    for (size_t i : pool) {
        for (Hypothesis* h : hypotheses) {
            if (progress_)
                progress_("scoring hypotheses", done, total);
            HA_ASSIGN_OR_RETURN(Verdict v, predict(h->text, rows, i));
            h->record_visit(v == Verdict::right, v == Verdict::invalid, rows.id(i), t,
                            options_.alpha);
            ++done;
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
    std::vector<size_t> order = top_by_reward(merged, -1);
    const size_t keep = std::min(order.size(), size_t(options_.max_hypotheses));
    const std::string below = fmt::format("below the top {} by reward", options_.max_hypotheses);
    bank.clear();
    for (size_t o = 0; o < order.size(); ++o) {
        Hypothesis& h = merged[order[o]];
        const bool fresh_one = is_new[order[o]];
        if (o < keep) {
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
    const size_t n = rows.size();
    const size_t n_init = init_rows(options_, n);
    HA_ASSIGN_OR_RETURN(auto bank, initial_bank(rows, n_init));

    const double alpha = options_.alpha;
    const size_t pool_size =
        size_t(options_.update_batch_size) * size_t(options_.num_hypotheses_to_update);
    std::vector<size_t> pool;
    int regenerations = 0;
    for (size_t i = n_init; i < n; ++i) {
        if (progress_)
            progress_("updating hypotheses", i - n_init, n - n_init);
        const int t = int(i + 1);

        // UCB compares every arm at the same t. HypoGenic refreshes a reward only when its entry
        // is visited, so an untested hypothesis keeps the smaller exploration bonus of an older
        // t and falls behind; we refresh the whole bank first.
        for (auto& h : bank)
            h.refresh_reward(t, alpha);
        const std::vector<size_t> tested = top_by_reward(bank, options_.k);
        size_t wrong = 0;
        for (size_t b : tested) {
            HA_ASSIGN_OR_RETURN(Verdict v, predict(bank[b].text, rows, i));
            bank[b].record_visit(v == Verdict::right, v == Verdict::invalid, rows.id(i), t, alpha);
            wrong += v == Verdict::right ? 0 : 1;
        }

        const double threshold = wrong_threshold(tested.size(), i, n, options_.num_wrong_scale);
        if (!tested.empty() && double(wrong) < threshold)
            continue;
        pool.push_back(i);
        if (pool.size() < pool_size)
            continue;
        HA_ASSIGN_OR_RETURN(auto fresh, regenerate(rows, pool, i, bank));
        replace(bank, std::move(fresh), i, "generated from hard rows " + row_list(pool));
        pool.clear();
        ++regenerations;
    }
    if (progress_ && n > n_init)
        progress_("updating hypotheses", n - n_init, n - n_init);

    log::info("hypotheses: {} rows ({} to initialise), {} regenerations, {} in the bank", n, n_init,
              regenerations, bank.size());
    rank_by_accuracy(bank);
    return bank;
}

}  // namespace hyperalign::learn
