#pragma once

#include <memory>
#include <string>

#include "hyperalign/llm/backend.hpp"

namespace hyperalign::llm {

struct LlamaOptions {
    std::string model_path;  // a GGUF file
    int threads = 0;         // 0: the machine's cores
    int context_size = 0;    // 0: the model's training context
    int batch_size = 512;    // prompt tokens decoded per step
    // Chat template: empty uses the model's own, else ChatML (what llama-server does for a model
    // without one); a built-in name ("chatml", "llama3", "mistral-v7", ... see
    // `hyperalign models templates`); "plain" joins the message contents with newlines (for
    // base models such as the tests' story model); anything else is passed to llama.cpp as a
    // template text, which it recognises by its markers.
    std::string chat_template;
    // Flash attention: "auto" (llama.cpp decides), "on" or "off". Which is faster depends on
    // the model and CPU.
    std::string flash_attn = "auto";
};

// In-process llama.cpp backend through its C API. One model and one context; calls are
// serialised by an internal mutex, so the object is thread-safe but not concurrent. A request's
// shared prefix (ChatRequest::prefix_messages) is decoded on its own from position 0 and kept in
// the KV cache; the next request with the same prefix decodes only the rest.
// Greedy decoding (temperature 0) or a seeded sampler chain: the same request gives the same
// bytes on the same build and CPU. A JSON schema becomes a GBNF grammar sampler.
class LlamaBackend final : public Backend {
  public:
    // Loads the model. Fails with not_found (no such file), backend_unavailable (llama.cpp could
    // not load it) or invalid_input (unknown chat template, bad sizes).
    static Result<std::unique_ptr<LlamaBackend>> open(const LlamaOptions& options);
    ~LlamaBackend() override;

    Result<ChatResponse> chat(const ChatRequest& request) override;
    Result<int> count_tokens(std::string_view text) override;
    const ModelInfo& info() const override;

    // The prompt text `messages` become under the chat template (for tests and debugging).
    Result<std::string> render(const std::vector<Message>& messages) const;

    struct Impl;

  private:
    explicit LlamaBackend(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Names of llama.cpp's built-in chat templates, plus "plain".
std::vector<std::string> builtin_chat_templates();

// Routes llama.cpp's own log into hyperalign's log facade (debug level; its warnings and errors
// at warn). Called by LlamaBackend::open; idempotent.
void route_llama_log();

}  // namespace hyperalign::llm
