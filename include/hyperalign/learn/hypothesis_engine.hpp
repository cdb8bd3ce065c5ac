#pragma once

#include <map>
#include <string>
#include <vector>

#include "hyperalign/core/hypothesis.hpp"
#include "hyperalign/learn/progress.hpp"
#include "hyperalign/learn/rows.hpp"
#include "hyperalign/learn/text_fitter.hpp"
#include "hyperalign/llm/client.hpp"
#include "hyperalign/prompts/library.hpp"

namespace hyperalign::learn {

// HypoGenic's parameters, scaled for a handful of demonstrations (docs/method.md).
struct EngineOptions {
    int num_init = 0;              // rows used to initialise the bank (0: every row)
    int init_batch_size = 4;       // rows shown per generation prompt
    int hypotheses_per_batch = 5;  // hypotheses asked for per generation prompt
    int max_hypotheses = 20;       // bank size H kept by replacement
    double alpha = 0.5;            // UCB exploration weight
    int max_tokens_generate = 1024;
    int max_tokens_predict = 256;
    llm::SamplingParams sampling;  // seed, temperature etc. for every call of the engine
    std::string person;            // whose texts the rows hold (tags cached replies)
    // Hypotheses judged per scoring call: 1 (or less) asks once per hypothesis and row
    // (predict); N > 1 asks up to N at once (predict_batch), row by row, in the order the
    // hypotheses are tested. Visits, accuracy, evidence and rewards update the same way.
    int scoring_batch = 1;

    // The online update (learn()), rows num_init..N-1.
    int k = 10;                           // hypotheses tested per row, top by reward (< 0: all)
    double num_wrong_scale = 0.8;         // scales the wrong-prediction threshold (<= 0: every row)
    int update_batch_size = 2;            // hard rows per regeneration prompt
    int num_hypotheses_to_update = 1;     // regeneration prompts per full pool of hard rows
    int update_hypotheses_per_batch = 5;  // hypotheses asked for per regeneration prompt
    bool only_best_hypothesis = false;    // keep only the best-reward hypothesis of a prompt
};

// The options as a provenance records them, each value as JSON text ("4", "0.5", "true"):
// every field but the seed and the person (a provenance keeps those apart), with the sampling's
// temperature, top_p and top_k under those names.
std::map<std::string, std::string> engine_parameters(const EngineOptions& options);

// One change to the bank, kept so a profile can say where each hypothesis came from and why
// others left. Kinds:
//   "added"     entered the bank (initialisation, or a regeneration that made the top H)
//   "dropped"   a bank entry pushed out of the top H by reward at a replacement
//   "rejected"  a regenerated hypothesis that never entered: below the top H, or not the best
//               of its prompt under only_best_hypothesis
//   "duplicate" a regenerated text already in the bank; the bank's record (shown) is kept
struct BankEvent {
    std::string kind;
    std::string text;
    int row = -1;  // 0-based row whose processing caused it; -1 during initialisation
    double accuracy = 0;
    double reward = 0;
    std::string reason;
};

enum class Verdict { right, wrong, invalid };

// Generates hypotheses from labelled rows and scores them by prediction, as HypoGenic does.
// Every model call goes through the given client; texts are cut to fit by the fitter.
class HypothesisEngine {
  public:
    HypothesisEngine(llm::Client& client, TextFitter& fitter, EngineOptions options,
                     Progress progress = {});

    // Asks for up to `n` hypotheses from the rows `batch` (indices into rows). A reply that
    // fails its schema twice yields an empty list (recorded in the client's accounting); other
    // failures (budget, backend) are returned.
    Result<std::vector<std::string>> generate(const TaskRows& rows,
                                              const std::vector<size_t>& batch, int n);

    // Predicts row i with one hypothesis. A reply that cannot be used is Verdict::invalid.
    Result<Verdict> predict(const std::string& hypothesis, const TaskRows& rows, size_t i);

    // Predicts row i with several hypotheses in one call: the row's texts in the system message
    // (a prefix shared by every call on the row), the numbered hypotheses in the user message,
    // and a reply {"predictions": [{"hypothesis": k, "answer": ...}]} with exactly one entry per
    // hypothesis. Returns one verdict per hypothesis, in the order given (none and no call for
    // an empty list). A reply that misses, repeats or invents a hypothesis is repaired once;
    // if it is still unusable, every hypothesis gets Verdict::invalid. Other failures (budget,
    // backend, context) are returned.
    Result<std::vector<Verdict>> predict_batch(const std::vector<std::string>& hypotheses,
                                               const TaskRows& rows, size_t i);

    // Predicts row i with every hypothesis as the engine's scoring does: predict() for each when
    // scoring_batch <= 1, else predict_batch() on consecutive groups of scoring_batch, all with
    // the row's texts cut alike so that they share the prefix. One verdict per hypothesis, in
    // order; fails as those do.
    Result<std::vector<Verdict>> predict_row(const std::vector<std::string>& hypotheses,
                                             const TaskRows& rows, size_t i);

    // HypoGenic's initialisation: hypotheses from consecutive blocks of the first num_init rows
    // (a smaller last block is allowed), de-duplicated in order, each scored on all num_init
    // rows; returned ranked by accuracy. Fails with bad_model_output when no hypothesis at all
    // could be generated.
    Result<std::vector<Hypothesis>> initialize(const TaskRows& rows);

    // HypoGenic's whole training pass: initialize() on the first num_init rows (unranked, in
    // generation order), then its online update over the remaining rows, one row at a time:
    // the k hypotheses with the highest reward predict the row; when at least
    // wrong_threshold(...) of them fail (or none was tested) the row joins a pool of hard rows;
    // a full pool (update_batch_size * num_hypotheses_to_update rows) is sent
    // num_hypotheses_to_update times to generate new hypotheses, each scored on the pool, and
    // the bank keeps the max_hypotheses entries of the highest reward. With num_init 0 (every
    // row) there is no online phase. Returns the bank ranked by accuracy; history() tells how
    // it came to be. Fails with invalid_input on bad options, bad_model_output when
    // initialisation yields no hypothesis, and with any error of a model call (budget,
    // backend), discarding the bank.
    Result<std::vector<Hypothesis>> learn(const TaskRows& rows);

    // Continues learn()'s online update from an earlier bank: rows first_new_row..N-1 are
    // processed as rows rows_seen, rows_seen + 1, ... of everything learned from (t and the
    // hard-row threshold continue from there), and visits, accuracy and evidence carry over.
    // Hypotheses the person pinned or added (Hypothesis::kept_by_person) are never dropped by a
    // replacement; a regenerated text in `never_add` is rejected. Returns the bank ranked (pinned
    // first); history() lists this call's changes, with rows numbered the same way. Fails as
    // learn() does, and with invalid_input when first_new_row is past the last row.
    Result<std::vector<Hypothesis>> learn_from(std::vector<Hypothesis> bank, const TaskRows& rows,
                                               size_t first_new_row, size_t rows_seen,
                                               const std::vector<std::string>& never_add = {});

    // The bank changes of the last initialize() or learn(), in order.
    const std::vector<BankEvent>& history() const { return history_; }

    const EngineOptions& options() const { return options_; }

  private:
    // The online update over rows first..N-1, row i counted as row seen + (i - first).
    Status online_update(std::vector<Hypothesis>& bank, const TaskRows& rows, size_t first,
                         size_t seen, const std::vector<std::string>& never_add);
    // Generates and scores the initial bank on rows 0..n_init-1, in generation order.
    Result<std::vector<Hypothesis>> initial_bank(const TaskRows& rows, size_t n_init);
    // Room every group of hypotheses on a row is fitted with, so that all of them cut the row's
    // texts alike and share its system message as their prefix.
    struct GroupReserve {
        int listing = 0;  // tokens of the longest numbered listing
        int reply = 0;    // reply tokens of the largest group
    };
    // The reserve for `texts` cut into groups of scoring_batch (none when scoring one at a time).
    Result<GroupReserve> group_reserve(const TaskRows& rows, const std::vector<std::string>& texts);
    // The verdicts of `texts` on row i: predict() for each, or predict_group() when
    // scoring_batch > 1 (the caller passes at most scoring_batch texts).
    Result<std::vector<Verdict>> judge(const std::vector<std::string>& texts, const TaskRows& rows,
                                       size_t i, const GroupReserve& reserve);
    // predict_batch() with the row's texts fitted beside at least `reserve`.
    Result<std::vector<Verdict>> predict_group(const std::vector<std::string>& hypotheses,
                                               const TaskRows& rows, size_t i,
                                               const GroupReserve& reserve);
    int reply_for_group(const llm::JsonSchema& schema, size_t n) const;
    // Fills `vars` with row i's texts, fitted beside `fixed` prompt tokens and a reply of up to
    // `reply` tokens (lowered when the context is short); returns the right answer.
    Result<std::string> row_vars(const TaskRows& rows, size_t i, int fixed, int& reply,
                                 prompts::Vars& vars);
    // Scores each hypothesis on each of `pool` at time t, row by row (rows share prompt prefixes).
    Status score(const TaskRows& rows, const std::vector<size_t>& pool, int t,
                 const std::vector<Hypothesis*>& hypotheses);
    // The new hypotheses from a full pool at row i, scored on the pool, in HypoGenic's merge order.
    Result<std::vector<Hypothesis>> regenerate(const TaskRows& rows,
                                               const std::vector<size_t>& pool, size_t i,
                                               const std::vector<Hypothesis>& bank);
    // HypoGenic's replacement: merge `fresh` into the bank, keep the top max_hypotheses by reward.
    void replace(std::vector<Hypothesis>& bank, std::vector<Hypothesis> fresh, size_t i,
                 const std::string& why_added);
    // A system + user request from a template, with this engine's sampling and person.
    Result<llm::ChatRequest> request_for(const char* template_id, const prompts::Vars& vars,
                                         int reply, const char* purpose) const;
    Result<std::string> observations(const TaskRows& rows, const std::vector<size_t>& batch,
                                     int& reply_tokens);

    llm::Client& client_;
    TextFitter& fitter_;
    EngineOptions options_;
    Progress progress_;
    std::vector<BankEvent> history_;
};

// HypoGenic's threshold at 0-based row i of n: the row counts as hard when at least this many
// of the `tested` hypotheses predicted it wrong, tested * i / n * scale (from 0 on the first
// row to about 0.8 * tested on the last). A scale <= 0 gives 0: every row is hard.
double wrong_threshold(size_t tested, size_t i, size_t n, double scale);

// Indices of the k entries of highest reward (k < 0: all), best first; ties keep bank order.
std::vector<size_t> top_by_reward(const std::vector<Hypothesis>& bank, int k);

// Trims, drops empty and repeated statements (exact text after trimming), keeps first order.
std::vector<std::string> dedup_in_order(const std::vector<std::string>& items);

}  // namespace hyperalign::learn
