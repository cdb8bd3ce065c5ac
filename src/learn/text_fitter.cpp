#include "hyperalign/learn/text_fitter.hpp"

#include <functional>

#include <fmt/format.h>

#include "hyperalign/core/log.hpp"
#include "hyperalign/core/text.hpp"

namespace hyperalign::learn {
namespace {

constexpr std::string_view kCutMarker = " [...]";
constexpr int kTemplateMargin = 48;  // chat-template markers and role headers
constexpr int kMinTokensPerText = 16;
constexpr int kComfortableTokensPerText = 64;
constexpr int kMinReplyTokens = 96;

}  // namespace

Result<TextFitter::Budget> TextFitter::budget(int fixed, int reply, int n_texts) const {
    const int n_ctx = backend_.info().context_size;
    const int n = std::max(1, n_texts);
    const int left = n_ctx - fixed - kTemplateMargin;
    Budget b;
    b.reply = reply;
    if (left - b.reply < n * kComfortableTokensPerText) {
        b.reply = std::min(reply, std::max(kMinReplyTokens, left - n * kComfortableTokensPerText));
    }
    b.per_text = (left - b.reply) / n;
    if (b.per_text < kMinTokensPerText) {
        return make_error(ErrorCode::context_overflow,
                          fmt::format("a context of {} tokens cannot hold {} texts besides a "
                                      "{}-token prompt and a {}-token reply; use fewer "
                                      "demonstrations (--demos), fewer rows per prompt "
                                      "(--batch-size) or a larger context (--ctx)",
                                      n_ctx, n_texts, fixed, b.reply));
    }
    if (b.reply < reply) {
        log::debug("reply allowance lowered from {} to {} tokens to leave room for {} texts", reply,
                   b.reply, n_texts);
    }
    return b;
}

Result<std::string> TextFitter::fit(std::string_view text, int max_tokens) {
    HA_ASSIGN_OR_RETURN(int total, backend_.count_tokens(text));
    if (total <= max_tokens)
        return std::string(text);
    HA_ASSIGN_OR_RETURN(int marker, backend_.count_tokens(kCutMarker));
    const int target = std::max(1, max_tokens - marker);

    // Binary search on the byte length for the longest boundary-cut prefix within the target.
    size_t lo = 0;
    size_t hi = text.size();
    std::string_view best;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        std::string_view candidate = text::cut_at_boundary(text, mid);
        HA_ASSIGN_OR_RETURN(int n, backend_.count_tokens(candidate));
        if (n <= target) {
            best = candidate;
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    cut_.insert(std::hash<std::string_view>{}(text));
    return std::string(best) + std::string(kCutMarker);
}

}  // namespace hyperalign::learn
