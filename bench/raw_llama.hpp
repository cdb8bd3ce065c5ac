#pragma once

#include <llama.h>

#include <memory>
#include <string>
#include <vector>

namespace hyperalign::bench {

// What one raw generation did and how long each phase took.
struct RawRun {
    int tokens_prompt = 0;
    int tokens_generated = 0;
    bool hit_eog = false;
    bool failed = false;       // llama_decode returned an error
    double ms_prompt = 0;      // tokenize + clear the cache + decode the prompt
    double ms_generation = 0;  // sampling and single-token decodes
    double ms_total = 0;
};

// The baseline: llama.cpp driven directly through its C API with nothing of ours in between,
// configured like LlamaBackend (same n_ctx, n_batch = n_ubatch, one sequence, threads).
class RawLlama {
  public:
    // nullptr when llama.cpp cannot load the model or create the context.
    static std::unique_ptr<RawLlama> open(const std::string& model_path, int n_ctx, int threads,
                                          int batch_size);
    ~RawLlama();
    RawLlama(const RawLlama&) = delete;
    RawLlama& operator=(const RawLlama&) = delete;

    // Greedy generation of up to `max_tokens` from `prompt` in an emptied cache, stopping at an
    // end-of-generation token. The last sampled token is decoded only when `decode_last` is set:
    // a minimal loop does not need it, but LlamaBackend does it, and the overhead figure
    // separates that cost.
    RawRun generate(const std::string& prompt, int max_tokens, bool decode_last);

    // The prompt's tokens, with BOS and special tokens parsed as LlamaBackend does.
    std::vector<llama_token> tokenize(const std::string& text) const;
    int context_size() const { return int(llama_n_ctx(ctx_)); }

  private:
    RawLlama() = default;
    bool decode(llama_token* tokens, int n);

    llama_model* model_ = nullptr;
    llama_context* ctx_ = nullptr;
    const llama_vocab* vocab_ = nullptr;
    llama_sampler* greedy_ = nullptr;
    int batch_size_ = 512;
};

}  // namespace hyperalign::bench
