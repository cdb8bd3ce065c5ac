#pragma once

#include <string>
#include <vector>

#include "hyperalign/core/demonstration.hpp"
#include "hyperalign/core/profile.hpp"
#include "hyperalign/learn/hypothesis_engine.hpp"
#include "hyperalign/learn/progress.hpp"
#include "hyperalign/llm/client.hpp"

namespace hyperalign::learn {

// Where the texts the person's texts are told apart from come from.
enum class ContrastSource {
    base_model,  // the model's own answer to each demonstration's prompt (default)
    others,      // texts of other authors from a pool, drawn by the seed
};

struct ProfileOptions {
    std::string person;
    uint32_t seed = 42;
    ContrastSource contrast = ContrastSource::base_model;
    std::vector<Demonstration> contrast_pool;  // for ContrastSource::others
    bool attributes = true;
    bool hypotheses = true;
    int max_tokens_attributes = 2048;
    int max_tokens_contrast = 512;
    EngineOptions engine;  // its sampling.seed is set from `seed`
};

Result<ContrastSource> parse_contrast_source(std::string_view name);

// Learns a profile from the person's demonstrations (at least 2): attributes in one structured
// call, contrasts, then hypotheses by HypoGenic's initialisation. Unusable model replies are
// recorded and skipped; budget and backend failures stop the build and are returned.
Result<Profile> build_profile(llm::Client& client, const std::vector<Demonstration>& demos,
                              const ProfileOptions& options, const Progress& progress = {});

// One structured call describing the person.
Result<Attributes> infer_attributes(llm::Client& client, TextFitter& fitter,
                                    const std::vector<Demonstration>& demos,
                                    const ProfileOptions& options);

// The base model's own answer to each demonstration's prompt.
Result<std::vector<std::string>> model_contrasts(llm::Client& client, TextFitter& fitter,
                                                 const std::vector<Demonstration>& demos,
                                                 const ProfileOptions& options,
                                                 const Progress& progress = {});

// A different text from the pool for each demonstration, drawn by the seed; pool texts equal
// to one of the person's are never used. Fails with invalid_input when the pool is empty.
Result<std::vector<std::string>> pool_contrasts(const std::vector<Demonstration>& demos,
                                                const std::vector<Demonstration>& pool,
                                                uint32_t seed);

}  // namespace hyperalign::learn
