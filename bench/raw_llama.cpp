#include "raw_llama.hpp"

#include <algorithm>

#include "bench.hpp"

namespace hyperalign::bench {

std::unique_ptr<RawLlama> RawLlama::open(const std::string& model_path, int n_ctx, int threads,
                                         int batch_size) {
    llama_backend_init();
    std::unique_ptr<RawLlama> raw(new RawLlama());
    raw->model_ = llama_model_load_from_file(model_path.c_str(), llama_model_default_params());
    if (raw->model_ == nullptr)
        return nullptr;
    raw->vocab_ = llama_model_get_vocab(raw->model_);
    raw->batch_size_ = std::min(batch_size, n_ctx);

    // The same context settings LlamaBackend::open chooses, so only the code around llama.cpp
    // differs between the two sides.
    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = uint32_t(n_ctx);
    cparams.n_batch = uint32_t(raw->batch_size_);
    cparams.n_ubatch = uint32_t(raw->batch_size_);
    cparams.n_seq_max = 1;
    cparams.n_threads = threads;
    cparams.n_threads_batch = threads;
    cparams.no_perf = true;
    raw->ctx_ = llama_init_from_model(raw->model_, cparams);
    if (raw->ctx_ == nullptr)
        return nullptr;

    // Greedy has no state, so one sampler serves every run.
    llama_sampler_chain_params sparams = llama_sampler_chain_default_params();
    sparams.no_perf = true;
    raw->greedy_ = llama_sampler_chain_init(sparams);
    llama_sampler_chain_add(raw->greedy_, llama_sampler_init_greedy());
    return raw;
}

RawLlama::~RawLlama() {
    if (greedy_ != nullptr)
        llama_sampler_free(greedy_);
    if (ctx_ != nullptr)
        llama_free(ctx_);
    if (model_ != nullptr)
        llama_model_free(model_);
}

std::vector<llama_token> RawLlama::tokenize(const std::string& text) const {
    // The same flags as LlamaBackend (BOS added, special tokens parsed), so both sides decode
    // the same token sequence.
    const int32_t len = int32_t(text.size());
    const int32_t n = -llama_tokenize(vocab_, text.data(), len, nullptr, 0, true, true);
    std::vector<llama_token> tokens(size_t(std::max(n, 0)));
    const int32_t got =
        llama_tokenize(vocab_, text.data(), len, tokens.data(), int32_t(tokens.size()), true, true);
    tokens.resize(size_t(std::max(got, 0)));
    return tokens;
}

bool RawLlama::decode(llama_token* tokens, int n) {
    for (int start = 0; start < n; start += batch_size_) {
        const int count = std::min(n - start, batch_size_);
        if (llama_decode(ctx_, llama_batch_get_one(tokens + start, count)) != 0)
            return false;
    }
    return true;
}

RawRun RawLlama::generate(const std::string& prompt, int max_tokens, bool decode_last) {
    RawRun run;
    const auto started = Clock::now();
    std::vector<llama_token> tokens = tokenize(prompt);
    run.tokens_prompt = int(tokens.size());
    // Zeroing the cache data as LlamaBackend does: the cost grows with n_ctx (a memset of the
    // whole KV buffer), and the comparison is meant to show only what differs around llama.cpp.
    llama_memory_clear(llama_get_memory(ctx_), true);
    if (!decode(tokens.data(), int(tokens.size()))) {
        run.failed = true;
        return run;
    }
    const auto prompt_done = Clock::now();

    for (int i = 0; i < max_tokens; ++i) {
        llama_token token = llama_sampler_sample(greedy_, ctx_, -1);
        if (llama_vocab_is_eog(vocab_, token)) {
            run.hit_eog = true;
            break;
        }
        ++run.tokens_generated;
        if (i + 1 == max_tokens && !decode_last)
            break;
        if (!decode(&token, 1)) {
            run.failed = true;
            break;
        }
    }

    const auto done = Clock::now();
    run.ms_prompt = ms_between(started, prompt_done);
    run.ms_generation = ms_between(prompt_done, done);
    run.ms_total = ms_between(started, done);
    return run;
}

}  // namespace hyperalign::bench
