#include "hyperalign/core/text.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <iterator>

namespace hyperalign::text {
namespace {

constexpr size_t kNone = std::string_view::npos;

// Words that end with a period without ending a sentence, lower-case, without the final period.
// "no" is handled apart: it is an abbreviation only before a number ("No. 5").
constexpr std::string_view kAbbreviations[] = {
    "apr", "aug",  "co",  "corp", "cos", "dec", "dr",  "e.g", "etc", "feb", "i.e",
    "inc", "jan",  "jr",  "jul",  "jun", "ltd", "mar", "mr",  "mrs", "ms",  "nov",
    "oct", "prof", "sep", "sept", "sr",  "st",  "u.k", "u.n", "u.s", "vs",
};

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_ascii_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_ascii_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_ascii_lower(char c) {
    return c >= 'a' && c <= 'z';
}
bool is_continuation(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

// Length of the closing quote or bracket at `s[i]` (ASCII or the UTF-8 ’ ” »), 0 when none.
size_t closer_length(std::string_view s, size_t i) {
    const char c = s[i];
    if (c == '"' || c == '\'' || c == ')' || c == ']' || c == '}')
        return 1;
    const std::string_view rest = s.substr(i);
    if (rest.starts_with("\xE2\x80\x99") || rest.starts_with("\xE2\x80\x9D"))
        return 3;
    if (rest.starts_with("\xC2\xBB"))
        return 2;
    return 0;
}

// Length of the opening quote or bracket at `s[i]` (ASCII or the UTF-8 ‘ “ «), 0 when none.
size_t opener_length(std::string_view s, size_t i) {
    const char c = s[i];
    if (c == '"' || c == '\'' || c == '(' || c == '[' || c == '{')
        return 1;
    const std::string_view rest = s.substr(i);
    if (rest.starts_with("\xE2\x80\x98") || rest.starts_with("\xE2\x80\x9C"))
        return 3;
    if (rest.starts_with("\xC2\xAB"))
        return 2;
    return 0;
}

// The first character of the word that starts at or after `i`, past whitespace and opening
// quotes or brackets; '\0' at the end of `s`.
char next_word_start(std::string_view s, size_t i) {
    while (i < s.size() && is_space(s[i]))
        ++i;
    while (i < s.size()) {
        const size_t len = opener_length(s, i);
        if (len == 0)
            break;
        i += len;
    }
    return i < s.size() ? s[i] : '\0';
}

// The word that a period at `dot` ends: the run of non-space bytes before it, without opening
// quotes or brackets, and, as Punkt does, only its part after the last hyphen ("Kennedy-Co").
std::string_view word_before(std::string_view s, size_t dot) {
    size_t start = dot;
    while (start > 0 && !is_space(s[start - 1]))
        --start;
    while (start < dot) {
        const size_t len = opener_length(s, start);
        if (len == 0)
            break;
        start += len;
    }
    std::string_view word = s.substr(start, dot - start);
    const size_t hyphen = word.rfind('-');
    if (hyphen != kNone)
        word.remove_prefix(hyphen + 1);
    return word;
}

bool is_abbreviation(std::string_view word, char next) {
    const std::string lower = ascii_lower(word);
    if (lower == "no")
        return is_ascii_digit(next);
    return std::find(std::begin(kAbbreviations), std::end(kAbbreviations), lower) !=
           std::end(kAbbreviations);
}

// True for a word with a capital, a digit or an inner period ("Plc", "1996", "a.s"): before a
// lower-case word, its period is more likely an abbreviation's than a sentence end. Writers who
// skip capitals ("me. although") keep their breaks after plain lower-case words.
bool looks_abbreviated(std::string_view word) {
    return std::any_of(word.begin(), word.end(), [](char c) {
        return c == '.' || is_ascii_digit(c) || (c >= 'A' && c <= 'Z');
    });
}

// Whether the period at `dot`, followed by closers up to `after`, ends a sentence. As in NLTK's
// Punkt, an abbreviation or a single initial ("J.") does not, whatever follows.
bool period_ends_sentence(std::string_view s, size_t dot, size_t after) {
    const std::string_view word = word_before(s, dot);
    const char next = next_word_start(s, after);
    if (word.size() == 1 && is_ascii_alpha(word[0]))
        return false;
    if (is_abbreviation(word, next))
        return false;
    return !(is_ascii_lower(next) && looks_abbreviated(word));
}

// Scans for the first sentence end at or after `from`. Returns the offset one past the end's
// punctuation and closing quotes/brackets, or kNone.
size_t next_sentence_end(std::string_view s, size_t from) {
    size_t i = from;
    while (i < s.size()) {
        const char c = s[i];
        if (c != '.' && c != '!' && c != '?') {
            ++i;
            continue;
        }

        // A run such as "?!" or "..." is one candidate; a run of periods only is an ellipsis.
        size_t run_end = i;
        bool has_mark = false;
        while (run_end < s.size() &&
               (s[run_end] == '.' || s[run_end] == '!' || s[run_end] == '?')) {
            has_mark = has_mark || s[run_end] != '.';
            ++run_end;
        }
        size_t end = run_end;
        while (end < s.size()) {
            const size_t len = closer_length(s, end);
            if (len == 0)
                break;
            end += len;
        }

        const bool followed_by_break = end == s.size() || is_space(s[end]);
        const bool is_ellipsis = !has_mark && run_end - i > 1;
        if (followed_by_break && !is_ellipsis && (has_mark || period_ends_sentence(s, i, end))) {
            return end;
        }
        i = run_end;
    }
    return kNone;
}

}  // namespace

bool is_valid_utf8(std::string_view s, size_t* bad_offset) {
    size_t i = 0;
    while (i < s.size()) {
        const auto lead = static_cast<unsigned char>(s[i]);
        size_t len = 0;
        // The allowed range of the second byte excludes overlong forms (E0, F0), UTF-16
        // surrogates (ED) and code points above U+10FFFF (F4).
        unsigned char lo = 0x80;
        unsigned char hi = 0xBF;
        if (lead < 0x80) {
            len = 1;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            len = 2;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            len = 3;
            if (lead == 0xE0)
                lo = 0xA0;
            if (lead == 0xED)
                hi = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            len = 4;
            if (lead == 0xF0)
                lo = 0x90;
            if (lead == 0xF4)
                hi = 0x8F;
        }

        bool ok = len > 0 && i + len <= s.size();
        for (size_t k = 1; ok && k < len; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            ok = k == 1 ? (b >= lo && b <= hi) : is_continuation(b);
        }
        if (!ok) {
            if (bad_offset != nullptr)
                *bad_offset = i;
            return false;
        }
        i += len;
    }
    return true;
}

std::string first_sentence(std::string_view s) {
    const size_t end = next_sentence_end(s, 0);
    return trim(end == kNone ? s : s.substr(0, end));
}

std::string_view utf8_prefix(std::string_view s, size_t max_bytes) {
    if (s.size() <= max_bytes)
        return s;
    size_t n = max_bytes;
    while (n > 0 && is_continuation(static_cast<unsigned char>(s[n])))
        --n;
    return s.substr(0, n);
}

std::string_view cut_at_boundary(std::string_view s, size_t max_bytes) {
    if (s.size() <= max_bytes)
        return s;
    const std::string_view prefix = utf8_prefix(s, max_bytes);

    // The last sentence end that fits; the scan looks past the prefix for the whitespace.
    size_t best = kNone;
    for (size_t end = next_sentence_end(s, 0); end != kNone && end <= prefix.size();
         end = next_sentence_end(s, end)) {
        best = end;
    }
    if (best != kNone && best > 0)
        return s.substr(0, best);

    // Else the last whitespace inside the prefix or right after it, without trailing spaces.
    size_t cut = prefix.size();
    while (cut > 0 && !is_space(s[cut]))
        --cut;
    while (cut > 0 && is_space(s[cut - 1]))
        --cut;
    if (cut > 0)
        return s.substr(0, cut);
    return prefix;
}

std::string trim(std::string_view s) {
    size_t begin = 0;
    size_t end = s.size();
    while (begin < end && is_space(s[begin]))
        ++begin;
    while (end > begin && is_space(s[end - 1]))
        --end;
    return std::string(s.substr(begin, end - begin));
}

std::string to_valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        utf8proc_int32_t cp = 0;
        auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                  utf8proc_ssize_t(s.size() - i), &cp);
        if (n > 0) {
            out.append(s.substr(i, size_t(n)));
            i += size_t(n);
            continue;
        }
        // A sequence cut off by the end of the text is dropped, not replaced.
        bool truncated_tail = true;
        for (size_t j = i + 1; j < s.size(); ++j) {
            if ((static_cast<unsigned char>(s[j]) & 0xC0) != 0x80)
                truncated_tail = false;
        }
        if (truncated_tail && static_cast<unsigned char>(s[i]) >= 0xC0 && s.size() - i < 4)
            break;
        out += "\xEF\xBF\xBD";
        ++i;
    }
    return out;
}

}  // namespace hyperalign::text
