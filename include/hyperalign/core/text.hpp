#pragma once

#include <string>
#include <string_view>

namespace hyperalign::text {

// Plain functions over UTF-8 text; all are pure and thread-safe. None throws except on
// allocation failure.

// True when `s` is well-formed UTF-8 (no overlong forms, no UTF-16 surrogates, nothing above
// U+10FFFF). On failure, `*bad_offset` (when given) receives the 0-based byte offset of the
// first invalid sequence.
bool is_valid_utf8(std::string_view s, size_t* bad_offset = nullptr);

// The first sentence of `s`, with surrounding whitespace trimmed; the whole trimmed text when
// no sentence end is found. A sentence ends after '.', '!' or '?' (or a run such as "?!"),
// plus any closing quotes or brackets, when whitespace or the end of `s` follows. A period does
// not end a sentence when it
//   - closes a known abbreviation (Mr., Mrs., Ms., Dr., Prof., St., Jr., Sr., Co., Cos.,
//     Corp., Inc., Ltd., U.S., U.K., U.N., e.g., i.e., etc., vs., short month names such as
//     Jan. and Sept.; "No." only before a number), also after a hyphen ("Kennedy-Co."),
//   - closes a single initial ("J."),
//   - is part of an ellipsis ("..."),
//   - follows a word with a capital, digit or inner period and precedes a lower-case word
//     ("Skoda a.s. said", "in 1996. later").
// The rule approximates NLTK Punkt as DITTO used it for the CCAT50 prompts (it reproduces 266
// of their 270 first sentences, ignoring whitespace).
std::string first_sentence(std::string_view s);

// The longest prefix of `s` that has at most `max_bytes` bytes and ends on a UTF-8 boundary.
std::string_view utf8_prefix(std::string_view s, size_t max_bytes);

// `s` itself when it fits in `max_bytes`; else the longest prefix within `max_bytes` that ends
// at a sentence end (as in first_sentence), else the one that ends before whitespace (trailing
// whitespace dropped), else utf8_prefix(s, max_bytes).
std::string_view cut_at_boundary(std::string_view s, size_t max_bytes);

// `s` without leading and trailing ASCII whitespace (space, \t, \n, \r, \f, \v).
std::string trim(std::string_view s);

// `s` with every invalid UTF-8 sequence replaced by U+FFFD and an incomplete sequence at the
// end dropped: model output cut mid-character, or random bytes, become printable JSON-safe text.
std::string to_valid_utf8(std::string_view s);

}  // namespace hyperalign::text
