#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "hyperalign/llm/backend.hpp"

namespace hyperalign::testing {

// A backend whose replies come from a function of the request, so tests can decide exactly
// what the "model" says. Counts a token per 4 bytes, like a typical BPE vocabulary.
class ScriptedBackend final : public llm::Backend {
  public:
    using Script = std::function<std::string(const llm::ChatRequest&)>;

    explicit ScriptedBackend(Script script, int context_size = 8192) : script_(std::move(script)) {
        info_.backend = "scripted";
        info_.model = "scripted-model";
        info_.chat_template = "none";
        info_.context_size = context_size;
    }

    Result<llm::ChatResponse> chat(const llm::ChatRequest& request) override {
        std::lock_guard lock(mutex_);
        requests.push_back(request);
        llm::ChatResponse r;
        r.text = script_(request);
        for (const auto& m : request.messages)
            r.usage.tokens_prompt += tokens(m.content);
        r.usage.tokens_completion = tokens(r.text);
        return r;
    }

    Result<int> count_tokens(std::string_view text) override { return int(tokens(text)); }
    const llm::ModelInfo& info() const override { return info_; }

    std::vector<llm::ChatRequest> requests;

  private:
    static int64_t tokens(std::string_view s) { return int64_t(s.size() + 3) / 4; }

    Script script_;
    llm::ModelInfo info_;
    std::mutex mutex_;
};

// The last user message of a request.
inline const std::string& user_text(const llm::ChatRequest& r) {
    for (auto it = r.messages.rbegin(); it != r.messages.rend(); ++it) {
        if (it->role == "user")
            return it->content;
    }
    static const std::string empty;
    return empty;
}

}  // namespace hyperalign::testing
