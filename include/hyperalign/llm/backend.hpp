#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "hyperalign/core/result.hpp"

namespace hyperalign::llm {

// One chat turn. Roles: "system", "user", "assistant".
struct Message {
    std::string role;
    std::string content;
};

// Sampling settings for one call. temperature 0 means greedy decoding; top_k 0 and top_p 1
// switch those filters off. A fixed seed with the same inputs gives the same bytes in-process.
struct SamplingParams {
    uint32_t seed = 42;
    float temperature = 0.0f;
    float top_p = 1.0f;
    int top_k = 0;
    int max_tokens = 512;
    std::vector<std::string> stop;
};

struct ChatRequest {
    std::vector<Message> messages;
    SamplingParams sampling;
    // JSON Schema (the subset in json_schema.hpp) the reply must conform to; empty for free text.
    std::string json_schema;
    // What the call is for, used for accounting ("attributes", "contrast", "hypothesis_generation",
    // "scoring", "generation").
    std::string purpose;
    // Called with each piece of text as it is produced, when set. Not part of the request's
    // identity: it never changes the reply.
    std::function<void(std::string_view)> on_text;
    // The first `prefix_messages` messages form a prefix that many requests share (a profile's
    // system message, the texts a scoring prompt compares). A backend may keep that prefix's
    // state between calls; it is always computed the same way, so the reply does not depend on
    // what ran before. 0: no shared prefix.
    size_t prefix_messages = 0;
    // Whose texts the request is made from, so that cached replies can be deleted with the
    // person. Not part of the request's identity. Empty when no person's data is involved.
    std::string person;
    // Set by another thread to ask a running call to stop; the call then fails with
    // ErrorCode::cancelled. Not part of the request's identity.
    const std::atomic<bool>* cancel = nullptr;
};

enum class FinishReason { stop, length };

struct Usage {
    int64_t tokens_prompt = 0;         // all prompt tokens, cached ones included
    int64_t tokens_prompt_cached = 0;  // prompt tokens whose state was reused, not evaluated
    int64_t tokens_completion = 0;
};

struct Timings {
    double ms_prompt = 0;      // prompt evaluation
    double ms_completion = 0;  // token generation
    double ms_total = 0;       // the whole call as the caller saw it
};

struct ChatResponse {
    std::string text;
    FinishReason finish = FinishReason::stop;
    Usage usage;
    Timings timings;
    bool from_cache = false;  // served from the response cache; usage is the original call's
};

// What a backend serves, for provenance and cache keys.
struct ModelInfo {
    std::string backend;        // "llama.cpp" or "openai"
    std::string model;          // GGUF path or served model name
    std::string model_sha256;   // of the GGUF file; empty for remote models
    std::string chat_template;  // name or "custom"; empty when the server applies its own
    int context_size = 0;       // tokens
};

// A language model that answers chat requests. Implementations: in-process llama.cpp
// (llm/llama_backend.hpp). Cross-cutting concerns (accounting, budgets, structured output)
// wrap this interface once, in llm/client.hpp.
class Backend {
  public:
    virtual ~Backend() = default;

    // Runs one chat completion. Fails with context_overflow when the prompt does not fit,
    // backend_* for engine failures; never throws.
    virtual Result<ChatResponse> chat(const ChatRequest& request) = 0;

    // Number of tokens `text` takes as message content (no special tokens).
    virtual Result<int> count_tokens(std::string_view text) = 0;

    virtual const ModelInfo& info() const = 0;
};

}  // namespace hyperalign::llm
