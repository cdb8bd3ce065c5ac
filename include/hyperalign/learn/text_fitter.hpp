#pragma once

#include <set>
#include <string>
#include <string_view>

#include "hyperalign/core/result.hpp"
#include "hyperalign/llm/backend.hpp"

namespace hyperalign::learn {

// Fits texts into a token budget by the documented cut rule (docs/limitations.md): a text over
// its budget keeps its longest prefix that fits and ends at a sentence end (else at whitespace,
// else at a character boundary), followed by the marker " [...]". Counts what it cut, so the
// user can be told.
// A task prompt listed beside its text (the attribute call, hypothesis-generation observations)
// is cut to at most this many tokens, so that many rows still leave room for their texts.
inline constexpr int kListedPromptTokens = 96;

class TextFitter {
  public:
    explicit TextFitter(llm::Backend& backend) : backend_(backend) {}

    Result<std::string> fit(std::string_view text, int max_tokens);

    struct Budget {
        int per_text = 0;  // tokens each text may take
        int reply = 0;     // tokens left for the reply
    };

    // Shares what the context leaves after `fixed` prompt tokens (plus a margin for the chat
    // template) between `n_texts` texts and a reply of up to `reply` tokens. When both do not
    // fit, the reply gives way first, down to what leaves each text 64 tokens (never below 96
    // reply tokens), then the texts. Fails with context_overflow when less than 16 tokens per
    // text would remain.
    Result<Budget> budget(int fixed, int reply, int n_texts) const;

    Result<int> count(std::string_view text) { return backend_.count_tokens(text); }

    // Distinct texts that had to be cut at least once.
    int texts_cut() const { return int(cut_.size()); }

  private:
    llm::Backend& backend_;
    std::set<size_t> cut_;  // hashes of the texts cut
};

}  // namespace hyperalign::learn
