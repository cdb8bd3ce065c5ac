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

struct GenerateOptions {
    Method method = Method::hyperalign;
    int top_hypotheses = 5;     // the N best by accuracy go into the prompt
    int few_shot_examples = 0;  // demonstrations shown for few_shot (0: all)
    llm::SamplingParams sampling;
    // Receives the text as it is generated (streaming), when set.
    std::function<void(std::string_view)> on_text;
};

// The system message for a profile and options: byte-identical for every task, so engines can
// reuse its cached prefix. Empty for zero_shot. Few-shot examples are cut to share what the
// context leaves (TextFitter's rule) when a backend is given.
Result<std::string> system_prefix(const Profile& profile, const GenerateOptions& options,
                                  llm::Backend* backend = nullptr);

// The full chat request for one task.
Result<llm::ChatRequest> compose(const Profile& profile, const GenerateOptions& options,
                                 std::string_view task, llm::Backend* backend = nullptr);

// Writes the task's text as the person. Fails with invalid_input for an empty task.
Result<llm::ChatResponse> write(llm::Client& client, const Profile& profile,
                                const GenerateOptions& options, std::string_view task);

}  // namespace hyperalign::generate
