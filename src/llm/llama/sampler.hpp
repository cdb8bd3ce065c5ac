#pragma once

#include <llama.h>

#include <string>
#include <vector>

#include "hyperalign/core/result.hpp"
#include "hyperalign/llm/backend.hpp"

namespace hyperalign::llm {

// Owned llama.cpp samplers built from SamplingParams: greedy when temperature <= 0, else
// top-k -> top-p -> temperature -> seeded draw; plus a grammar when given.
//
// The grammar is checked lazily: the chain picks a token from the raw logits, and only when the
// grammar rejects it are all candidates filtered by the grammar and the pick repeated. Filtering
// the whole vocabulary on every step costs far more than generation itself; for greedy decoding
// both orders give the same token.
class SamplerChain {
  public:
    static Result<SamplerChain> make(const llama_vocab* vocab, const SamplingParams& params,
                                     const std::string& gbnf);
    SamplerChain(SamplerChain&& other) noexcept;
    SamplerChain& operator=(SamplerChain&&) = delete;
    SamplerChain(const SamplerChain&) = delete;
    ~SamplerChain();

    // Samples the next token from the last logits and accepts it into the samplers.
    llama_token sample(llama_context* ctx);

  private:
    SamplerChain(const llama_vocab* vocab, llama_sampler* chain) : vocab_(vocab), chain_(chain) {}
    void fill_candidates(const float* logits);

    const llama_vocab* vocab_;
    llama_sampler* chain_;
    llama_sampler* grammar_ = nullptr;
    std::vector<llama_token_data> candidates_;
};

}  // namespace hyperalign::llm
