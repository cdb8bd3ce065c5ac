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
class TextFitter {
public:
    explicit TextFitter(llm::Backend& backend) : backend_(backend) {}

    Result<std::string> fit(std::string_view text, int max_tokens);

    // The per-text budget when `n_texts` texts share what the context leaves after `fixed`
    // prompt tokens and `reply` reply tokens (with a margin for the chat template). Fails with
    // context_overflow when fewer than 16 tokens would be left per text.
    Result<int> budget(int fixed, int reply, int n_texts) const;

    Result<int> count(std::string_view text) { return backend_.count_tokens(text); }

    // Distinct texts that had to be cut at least once.
    int texts_cut() const { return int(cut_.size()); }

private:
    llm::Backend& backend_;
    std::set<size_t> cut_;  // hashes of the texts cut
};

}  // namespace hyperalign::learn
