#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "hyperalign/core/profile.hpp"
#include "hyperalign/llm/client.hpp"

namespace hyperalign::generate {

// The generation methods evaluation compares, all behind one function.
enum class Method {
    zero_shot,   // the task alone
    few_shot,    // the person's demonstrations in context
    attributes,  // the inferred attributes
    hypotheses,  // the top hypotheses
    hyperalign,  // attributes and hypotheses (the paper's method)
};

Result<Method> parse_method(std::string_view name);
std::string_view to_string(Method method);
const std::vector<Method>& all_methods();

// How the hypotheses shown to the model are chosen.
enum class Selection {
    top_accuracy,  // the top N by accuracy: the same for every task
    relevance,     // the pinned, then of the best `relevance_pool` others those one model call
                   // judges relevant to the task, in accuracy order, at most N in all
};

// "top" or "relevance"; anything else fails with invalid_input.
Result<Selection> parse_selection(std::string_view name);
std::string_view to_string(Selection selection);

struct GenerateOptions {
    Method method = Method::hyperalign;
    int top_hypotheses = 5;  // N: at most this many hypotheses go into the prompt
    Selection selection = Selection::top_accuracy;
    int relevance_pool = 10;    // with relevance, how many of the best are judged (1 to 100)
    int few_shot_examples = 0;  // demonstrations shown for few_shot (0: all)
    llm::SamplingParams sampling;
    // Receives the text as it is generated (streaming), when set.
    std::function<void(std::string_view)> on_text;
};

// The hypotheses the prompt shows for `task`, at most top_hypotheses, in rank_by_accuracy's
// order; pinned ones always stay (all of them, even past N) and are never judged. Empty, with no
// model call, when the method shows none or the profile has none. top_accuracy makes no call.
// relevance makes one structured call (purpose "selection", prompts/select_relevant.*) listing
// the best relevance_pool unpinned hypotheses, and fills the places the pinned leave with those
// the model names; when it names none, or its reply is still unusable after chat_json's repair,
// it falls back to the top N by accuracy and logs at warn. No call when the pinned fill N.
// Fails with invalid_input for a relevance_pool outside 1..100, and with the call's error when
// the call itself fails (budget, backend, cancellation).
Result<std::vector<Hypothesis>> select_hypotheses(llm::Client& client, const Profile& profile,
                                                  const GenerateOptions& options,
                                                  std::string_view task);

// The system message for a profile and options, showing `hypotheses` (from select_hypotheses)
// as the profile's hypotheses. Empty for zero_shot. Few-shot examples are cut to share what the
// context leaves (TextFitter's rule) when a backend is given. With top_accuracy the message is
// byte-identical for every task, so engines can reuse its cached prefix; with relevance it
// depends on the task through the hypotheses chosen, and that guarantee does not hold.
Result<std::string> system_prefix(const Profile& profile, const GenerateOptions& options,
                                  const std::vector<Hypothesis>& hypotheses,
                                  llm::Backend* backend = nullptr);

// As above with the top N by accuracy (pinned kept), for top_accuracy. Fails with
// invalid_input for relevance, whose choice needs a model call (select_hypotheses).
Result<std::string> system_prefix(const Profile& profile, const GenerateOptions& options,
                                  llm::Backend* backend = nullptr);

// The full chat request for one task, showing `hypotheses`.
Result<llm::ChatRequest> compose(const Profile& profile, const GenerateOptions& options,
                                 std::string_view task, const std::vector<Hypothesis>& hypotheses,
                                 llm::Backend* backend = nullptr);

// As above with the top N by accuracy; fails with invalid_input for relevance.
Result<llm::ChatRequest> compose(const Profile& profile, const GenerateOptions& options,
                                 std::string_view task, llm::Backend* backend = nullptr);

// Writes the task's text as the person, choosing the hypotheses first (select_hypotheses: one
// extra call with relevance). Fails with invalid_input for an empty task.
Result<llm::ChatResponse> write(llm::Client& client, const Profile& profile,
                                const GenerateOptions& options, std::string_view task);

}  // namespace hyperalign::generate
