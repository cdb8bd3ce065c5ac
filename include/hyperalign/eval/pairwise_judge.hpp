#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hyperalign/core/result.hpp"
#include "hyperalign/eval/stats.hpp"
#include "hyperalign/llm/client.hpp"

namespace hyperalign::eval {

// The prompt template of the judge (prompts/judge_authorship.*). Record its version and hash
// (prompts::find) with the verdicts: a verdict is only comparable to verdicts from the same
// wording.
inline constexpr std::string_view kJudgeTemplate = "judge_authorship";

// The verdict in a judge's reply: a JSON object whose "winner" is "A" or "B" (either case),
// or a bare reply whose first word is A or B, also quoted, bracketed or followed by punctuation,
// and after a label such as "Answer:" ("A", "B.", "\"A\"", "Answer: B", "**A** is closer").
// A lower-case "a" or "b" counts only when no word follows it (else it is likely an article).
// Anything else is Verdict::invalid. Never throws: the reply is untrusted model output.
Verdict parse_verdict(std::string_view reply);

struct JudgeOptions {
    bool with_gold = false;  // show the author's own text for the task as one more reference
    int max_references = 5;  // the first this many references are shown; 0: all of them
    // Greedy by default; the reply is a few tokens.
    llm::SamplingParams sampling = {.seed = 42, .temperature = 0.0f, .max_tokens = 32, .stop = {}};
};

// One pair to judge, and whom it concerns.
struct PairInput {
    std::string person;                   // the author, for request.person
    std::vector<std::string> references;  // texts the author wrote (training texts)
    std::string gold;                     // the author's own text for this task; may be empty
    std::string task;
    std::string candidate_a;
    std::string candidate_b;
};

struct JudgeCall {
    Verdict verdict = Verdict::invalid;
    // The reply as the model gave it (the validated JSON), or, for an invalid verdict, the error
    // that made it unusable. Personal data: store it, log it at trace level only.
    std::string raw;
};

// One judgement, purpose "judge". The references (and the gold text) share what the context
// leaves after the instructions, the task, both candidates and the reply, and are cut to fit
// (learn::TextFitter); the candidates are shown whole unless even that does not fit, and then
// are cut to the same share as a reference. The references sit in the system message, marked as
// a shared prefix, so consecutive judgements for one author can reuse it.
// A reply still off-schema after chat_json's repair gives Verdict::invalid (not an error).
// Fails with invalid_input when there is nothing to compare with (no non-empty reference and no
// gold shown) or when with_gold is set and the gold text is empty; with context_overflow when
// the pair cannot be made to fit; budget, backend and cancellation errors are returned as they
// come. Thread-safe when the client is.
Result<JudgeCall> judge_pair(llm::Client& client, const PairInput& input,
                             const JudgeOptions& options);

// Both orderings of one pair and the method's outcome over them.
struct PairResult {
    JudgeCall method_as_a;  // the method's text shown as A
    JudgeCall method_as_b;  // the method's text shown as B
    Outcome outcome = Outcome::tie;
};

// Judges `base` (candidate_a: the method's text, candidate_b: the other one) first as given,
// then with the candidates swapped, and combines the two verdicts with combine(). Fails as
// judge_pair does; on a failure of the second call the first judgement is lost.
Result<PairResult> judge_both_orders(llm::Client& client, const PairInput& base,
                                     const JudgeOptions& options);

}  // namespace hyperalign::eval
