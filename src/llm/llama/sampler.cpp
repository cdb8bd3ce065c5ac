#include "llm/llama/sampler.hpp"

#include <cmath>

namespace hyperalign::llm {

Result<SamplerChain> SamplerChain::make(const llama_vocab* vocab, const SamplingParams& params,
                                        const std::string& gbnf) {
    if (params.max_tokens <= 0) {
        return make_error(ErrorCode::invalid_input, "max_tokens must be positive");
    }
    llama_sampler_chain_params cp = llama_sampler_chain_default_params();
    cp.no_perf = true;
    SamplerChain chain(vocab, llama_sampler_chain_init(cp));

    if (!gbnf.empty()) {
        chain.grammar_ = llama_sampler_init_grammar(vocab, gbnf.c_str(), "root");
        if (chain.grammar_ == nullptr) {
            return make_error(ErrorCode::internal, "llama.cpp rejected the generated grammar");
        }
    }
    if (params.temperature <= 0.0f) {
        llama_sampler_chain_add(chain.chain_, llama_sampler_init_greedy());
        return chain;
    }
    if (params.top_k > 0) {
        llama_sampler_chain_add(chain.chain_, llama_sampler_init_top_k(params.top_k));
    }
    if (params.top_p < 1.0f) {
        llama_sampler_chain_add(chain.chain_, llama_sampler_init_top_p(params.top_p, 1));
    }
    llama_sampler_chain_add(chain.chain_, llama_sampler_init_temp(params.temperature));
    llama_sampler_chain_add(chain.chain_, llama_sampler_init_dist(params.seed));
    return chain;
}

SamplerChain::SamplerChain(SamplerChain&& other) noexcept
    : vocab_(other.vocab_),
      chain_(other.chain_),
      grammar_(other.grammar_),
      candidates_(std::move(other.candidates_)) {
    other.chain_ = nullptr;
    other.grammar_ = nullptr;
}

SamplerChain::~SamplerChain() {
    if (chain_)
        llama_sampler_free(chain_);
    if (grammar_)
        llama_sampler_free(grammar_);
}

void SamplerChain::fill_candidates(const float* logits) {
    const int32_t n_vocab = llama_vocab_n_tokens(vocab_);
    candidates_.resize(size_t(n_vocab));
    for (int32_t i = 0; i < n_vocab; ++i)
        candidates_[size_t(i)] = {i, logits[i], 0.0f};
}

llama_token SamplerChain::sample(llama_context* ctx) {
    const float* logits = llama_get_logits_ith(ctx, -1);
    fill_candidates(logits);
    llama_token_data_array all{candidates_.data(), candidates_.size(), -1, false};
    llama_sampler_apply(chain_, &all);
    llama_token token = all.data[all.selected].id;

    if (grammar_ != nullptr) {
        llama_token_data single{token, 1.0f, 0.0f};
        llama_token_data_array one{&single, 1, -1, false};
        llama_sampler_apply(grammar_, &one);
        if (std::isinf(single.logit) && single.logit < 0) {
            fill_candidates(logits);
            all = {candidates_.data(), candidates_.size(), -1, false};
            llama_sampler_apply(grammar_, &all);
            llama_sampler_apply(chain_, &all);
            token = all.data[all.selected].id;
        }
        llama_sampler_accept(grammar_, token);
    }
    llama_sampler_accept(chain_, token);
    return token;
}

}  // namespace hyperalign::llm
