#pragma once

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

    // HypoGenic's initialisation: hypotheses from consecutive blocks of the first num_init rows
    // (a smaller last block is allowed), de-duplicated in order, each scored on all num_init
    // rows; returned ranked by accuracy. Fails with bad_model_output when no hypothesis at all
    // could be generated.
    Result<std::vector<Hypothesis>> initialize(const TaskRows& rows);

    const EngineOptions& options() const { return options_; }

  private:
    // A system + user request from a template, with this engine's sampling and person.
    Result<llm::ChatRequest> request_for(const char* template_id, const prompts::Vars& vars,
                                         int reply, const char* purpose) const;
    Result<std::string> observations(const TaskRows& rows, const std::vector<size_t>& batch,
                                     int& reply_tokens);

    llm::Client& client_;
    TextFitter& fitter_;
    EngineOptions options_;
    Progress progress_;
};

// Trims, drops empty and repeated statements (exact text after trimming), keeps first order.
std::vector<std::string> dedup_in_order(const std::vector<std::string>& items);

}  // namespace hyperalign::learn
