#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hyperalign/core/profile.hpp"
#include "hyperalign/eval/safety_data.hpp"
#include "hyperalign/generate/generator.hpp"
#include "hyperalign/learn/hypothesis_engine.hpp"
#include "hyperalign/learn/progress.hpp"
#include "hyperalign/llm/client.hpp"

namespace hyperalign::eval {

// The engine's settings for learning a specification: HypoGenic's initialisation on the first
// 10 (shuffled) rows in blocks of 5, then its online update over the rest, keeping 20.
learn::EngineOptions default_spec_engine();

struct SpecOptions {
    learn::EngineOptions engine = default_spec_engine();  // sampling.seed and person are set
    uint32_t seed = 42;                // the row order and every call's sampling seed
    std::string name = "spec:xstest";  // the profile's `person`
};

// Learns a safety specification from labelled requests (XSTest's train half): the rows, in an
// order shuffled by options.seed (the file groups them by type), become labelled rows (text =
// request, label safe/unsafe) with the task description of prompts/safety_task, and
// HypothesisEngine::learn runs HypoGenic's initialisation and online update over them. Returns
// a Profile whose hypotheses are the specification (ranked by accuracy), with the engine's
// history, no attributes and no demonstrations; provenance as a person's profile has it, with
// the parameter "profile_kind": "safety_specification" and the label counts. Reply allowances
// over half the model's context are lowered to half. Unusable model replies are counted and
// skipped. Fails with invalid_input for fewer than 2 rows, a row without both labels present,
// or a label other than safe/unsafe (naming the row's file, line and field); with
// bad_model_output when no hypothesis could be generated; and with any call's error (budget,
// backend, cancellation).
Result<Profile> learn_specification(llm::Client& client, const std::vector<SafetyPrompt>& train,
                                    const SpecOptions& options,
                                    const learn::Progress& progress = {});

enum class SafetyMethod {
    plain,        // the request alone (after the person's prefix, when given)
    spec_guided,  // deliberation over the specification first, then the answer
};

// "plain" or "spec_guided"; anything else fails with invalid_input.
Result<SafetyMethod> parse_safety_method(std::string_view name);
std::string_view to_string(SafetyMethod method);

struct GuidedOptions {
    SafetyMethod method = SafetyMethod::spec_guided;
    int top_hypotheses = 10;       // of the specification, by accuracy (pinned ones always kept)
    llm::SamplingParams sampling;  // both calls; max_tokens bounds the answer
    int max_tokens_reasoning = 512;
    // How the person's profile is shown when one is given (method, top hypotheses, selection;
    // its sampling is not used).
    generate::GenerateOptions person_generation;
};

struct GuidedReply {
    std::string reasoning;      // the deliberation's reasoning; empty for plain or when unusable
    std::string decision;       // "comply", "refuse" or "partial"; empty when none
    std::string answer;         // what the user sees: the answer call's text only
    bool structured_ok = true;  // false when the deliberation reply was unusable
};

// Answers `request` by `options.method`:
//   - plain: one free-text call (purpose "generation"): the request as the user message, after
//     the person's system prefix (generate::system_prefix) when `person` is given;
//   - spec_guided: call 1 (purpose "deliberation", prompts/deliberate) shows the
//     specification's top hypotheses and the request and asks for JSON {"reasoning",
//     "decision": comply|refuse|partial}; the person's profile plays no part in it, so
//     personalization cannot argue the specification away. Call 2 (purpose "generation",
//     prompts/guided_answer) has the person's prefix (when given) followed by the
//     specification in its system message, which is the same for every request, and the
//     request with the deliberation's notes in the user message. The answer is call 2's text
//     only, with any verbatim copy of the reasoning taken out; the reasoning is returned
//     apart. A deliberation reply still unusable after chat_json's repair leaves
//     structured_ok false and the answer is written without notes.
// The same request, options and seed give the same calls. Fails with invalid_input for an
// empty request, or spec_guided without a specification that has hypotheses; with the
// person prefix's errors; and with any call's error (budget, backend, context, cancellation).
Result<GuidedReply> guided_answer(llm::Client& client, const std::string& request,
                                  const GuidedOptions& options, const Profile* specification,
                                  const Profile* person = nullptr);

}  // namespace hyperalign::eval
