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
    bool reinfer_attributes = false;  // update_profile: infer attributes again over every text
    int max_tokens_attributes = 2048;
    int max_tokens_contrast = 512;
    EngineOptions engine;  // its sampling.seed is set from `seed`
};

Result<ContrastSource> parse_contrast_source(std::string_view name);

// Records in `pv` what a learning run ran on: the tool's version, the client's backend and
// model (hash, chat template, context), `seed`, the versions of the prompt templates
// `template_ids`, the client's spend per purpose, the texts the fitter cut, and the time (UTC).
// Spend and prompt versions are replaced, not merged; pv.parameters is left to the caller.
// Fails as prompts::find does for an unknown template id.
Status record_learning_run(llm::Client& client, const TextFitter& fitter, uint32_t seed,
                           const std::vector<std::string>& template_ids, Provenance& pv);

// The rows that initialise the bank when `engine.num_init` is 0 (automatic): every text when
// there are fewer than twice `init_batch_size`, else half of them (at least the batch size), so
// that HypoGenic's online phase learns from the rest. A positive num_init is kept.
int automatic_num_init(const EngineOptions& engine, size_t n_demos);

// Learns a profile from the person's demonstrations (at least 2): attributes in one structured
// call, contrasts, then hypotheses by HypoGenic's initialisation. Unusable model replies are
// recorded and skipped; budget and backend failures stop the build and are returned.
Result<Profile> build_profile(llm::Client& client, const std::vector<Demonstration>& demos,
                              const ProfileOptions& options, const Progress& progress = {});

// The next version of `previous` with `new_demos` learned: demonstrations whose id the profile
// lacks get contrasts as in build_profile, and HypoGenic's online update continues over them
// from the previous bank (visits, accuracy and evidence carry over; t counts every text learned
// from). Hypotheses the person pinned or added are never dropped; a text the person removed
// (a "removed_by_person" history event) is never learned again. Attributes are kept unless
// options.reinfer_attributes, which infers them over all demonstrations. The result has version
// previous.version + 1, the new events in its history and this run's provenance. Fails with
// invalid_input when an id already in the profile comes with a different text or no text is
// new, and as build_profile does otherwise.
Result<Profile> update_profile(llm::Client& client, const Profile& previous,
                               const std::vector<Demonstration>& new_demos,
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
