#include "hyperalign/eval/stylometry.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <linear.h>
#include <utf8proc.h>

#include "hyperalign/core/log.hpp"

namespace hyperalign::eval {
namespace {

// Feature keys are exact 64-bit codes (no hashing trick, so no two n-grams ever share a
// feature): a character n-gram is its length in the top byte and one byte per character below
// it; a word n-gram is 0x80 + its length in the top byte and 28-bit word ids below it.
constexpr int kMaxCharN = 7;
constexpr int kMaxWordN = 2;
constexpr uint64_t kWordTag = 0x80;
constexpr uint32_t kNoWord = 0xFFFFFFFF;
constexpr uint32_t kMaxWords = 1u << 28;
// Non-ASCII characters get the codes 128..254 in order of training frequency; the rest 255.
constexpr uint8_t kFirstRareCode = 128;
constexpr uint8_t kOtherCode = 255;
constexpr size_t kCommonNonAscii = kOtherCode - kFirstRareCode;

uint64_t mix(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return key;
}

// Open addressing from non-zero keys to counts or indices: the hot loop of feature extraction
// does several lookups per character, where std::unordered_map's node allocations dominate.
class KeyTable {
  public:
    explicit KeyTable(size_t expected = 64) { rehash(std::max<size_t>(16, expected * 2)); }

    uint32_t& at(uint64_t key) {
        if ((size_ + 1) * 2 > slots_.size())
            rehash(slots_.size() * 2);
        size_t i = mix(key) & mask_;
        while (slots_[i].key != 0 && slots_[i].key != key)
            i = (i + 1) & mask_;
        if (slots_[i].key == 0) {
            slots_[i].key = key;
            used_.push_back(static_cast<uint32_t>(i));
            ++size_;
        }
        return slots_[i].value;
    }

    const uint32_t* find(uint64_t key) const {
        size_t i = mix(key) & mask_;
        while (slots_[i].key != 0) {
            if (slots_[i].key == key)
                return &slots_[i].value;
            i = (i + 1) & mask_;
        }
        return nullptr;
    }

    // Visits (key, value) in insertion order, which makes every use of it deterministic.
    template <typename Fn>
    void for_each(Fn&& fn) const {
        for (uint32_t i : used_)
            fn(slots_[i].key, slots_[i].value);
    }

    void clear() {
        for (uint32_t i : used_)
            slots_[i] = Slot{};
        used_.clear();
        size_ = 0;
    }

    size_t size() const { return size_; }

  private:
    struct Slot {
        uint64_t key = 0;
        uint32_t value = 0;
    };

    void rehash(size_t capacity) {
        size_t pow2 = 16;
        while (pow2 < capacity)
            pow2 *= 2;
        std::vector<Slot> old;
        old.swap(slots_);
        std::vector<uint32_t> old_used;
        old_used.swap(used_);
        slots_.assign(pow2, Slot{});
        mask_ = pow2 - 1;
        size_ = 0;
        for (uint32_t i : old_used)
            at(old[i].key) = old[i].value;
    }

    std::vector<Slot> slots_;
    std::vector<uint32_t> used_;
    size_t mask_ = 0;
    size_t size_ = 0;
};

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using WordIds = std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>>;
using WordSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

bool is_space(char32_t cp) {
    if (cp < 128)
        return cp == ' ' || (cp >= '\t' && cp <= '\r');
    const auto category = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
    return category >= UTF8PROC_CATEGORY_ZS && category <= UTF8PROC_CATEGORY_ZP;
}

bool is_word_char(char32_t cp) {
    if (cp < 128)
        return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    const auto category = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
    return category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_NO;
}

void append_lower(std::string& out, char32_t cp) {
    if (cp < 128) {
        out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
        return;
    }
    utf8proc_uint8_t buf[4];
    const auto lower = utf8proc_tolower(static_cast<utf8proc_int32_t>(cp));
    const auto n = utf8proc_encode_char(lower, buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

// Walks `text` once: on_char(code point) for every character with each whitespace run given as
// one ' ' (none at either end), on_word(lower-cased word) for every run of letters and digits.
// Invalid UTF-8 bytes read as U+FFFD, one per byte.
template <typename CharFn, typename WordFn>
void scan(std::string_view text, CharFn&& on_char, WordFn&& on_word) {
    std::string word;
    bool pending_space = false;
    bool started = false;
    size_t i = 0;
    while (i < text.size()) {
        char32_t cp = static_cast<unsigned char>(text[i]);
        if (cp < 128) {
            ++i;
        } else {
            utf8proc_int32_t decoded = 0;
            const auto n =
                utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(&text[i]),
                                 static_cast<utf8proc_ssize_t>(text.size() - i), &decoded);
            cp = n > 0 ? static_cast<char32_t>(decoded) : 0xFFFD;
            i += n > 0 ? static_cast<size_t>(n) : 1;
        }

        if (is_word_char(cp)) {
            append_lower(word, cp);
        } else if (!word.empty()) {
            on_word(std::string_view(word));
            word.clear();
        }

        if (is_space(cp)) {
            pending_space = started;
            continue;
        }
        if (pending_space)
            on_char(U' ');
        pending_space = false;
        started = true;
        on_char(cp);
    }
    if (!word.empty())
        on_word(std::string_view(word));
}

// What turns a text into feature keys: the options and the tables learnt from the training
// texts (the word ids and the codes of the common non-ASCII characters).
struct Extractor {
    StylometryOptions options;
    WordIds word_ids;
    std::unordered_map<char32_t, uint8_t> char_codes;

    uint8_t code_of(char32_t cp) const {
        if (cp < 128)
            return static_cast<uint8_t>(cp);
        auto it = char_codes.find(cp);
        return it == char_codes.end() ? kOtherCode : it->second;
    }

    uint32_t word_id(std::string_view word) const {
        auto it = word_ids.find(word);
        return it == word_ids.end() ? kNoWord : it->second;
    }

    // Adds the count of every feature key of `text` to `counts`.
    void extract(std::string_view text, std::vector<uint8_t>& codes, std::vector<uint32_t>& words,
                 KeyTable& counts) const {
        codes.clear();
        words.clear();
        scan(
            text, [&](char32_t cp) { codes.push_back(code_of(cp)); },
            [&](std::string_view word) { words.push_back(word_id(word)); });
        add_char_ngrams(codes, counts);
        add_word_ngrams(words, counts);
    }

    void add_char_ngrams(const std::vector<uint8_t>& codes, KeyTable& counts) const {
        const size_t lo = static_cast<size_t>(options.char_min);
        const size_t hi = static_cast<size_t>(options.char_max);
        for (size_t i = 0; i < codes.size(); ++i) {
            uint64_t packed = 0;
            const size_t longest = std::min(hi, codes.size() - i);
            for (size_t n = 1; n <= longest; ++n) {
                packed |= uint64_t{codes[i + n - 1]} << (8 * (n - 1));
                if (n >= lo)
                    ++counts.at((uint64_t{n} << 56) | packed);
            }
        }
    }

    void add_word_ngrams(const std::vector<uint32_t>& words, KeyTable& counts) const {
        if (options.word_max == 0)
            return;
        for (size_t i = 0; i < words.size(); ++i) {
            if (words[i] == kNoWord)
                continue;
            if (options.word_min <= 1)
                ++counts.at(((kWordTag | 1) << 56) | words[i]);
            if (options.word_max >= 2 && i + 1 < words.size() && words[i + 1] != kNoWord)
                ++counts.at(((kWordTag | 2) << 56) | (uint64_t{words[i]} << 28) | words[i + 1]);
        }
    }
};

int thread_count(int requested, size_t work) {
    int n = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
    return static_cast<int>(
        std::clamp<size_t>(static_cast<size_t>(std::max(n, 1)), 1, std::max<size_t>(work, 1)));
}

// Runs fn(begin, end, part) over `threads` contiguous parts of [0, n), the last on the calling
// thread. When a thread cannot be started its part runs on the calling thread instead.
void parallel_for(size_t n, int threads, const std::function<void(size_t, size_t, int)>& fn) {
    std::vector<std::thread> pool;
    std::vector<int> inline_parts;
    const size_t parts = static_cast<size_t>(threads);
    for (size_t p = 0; p < parts; ++p) {
        const size_t begin = n * p / parts;
        const size_t end = n * (p + 1) / parts;
        if (p + 1 == parts) {
            fn(begin, end, static_cast<int>(p));
            break;
        }
        try {
            pool.emplace_back(fn, begin, end, static_cast<int>(p));
        } catch (const std::system_error&) {
            inline_parts.push_back(static_cast<int>(p));
        }
    }
    for (auto& t : pool)
        t.join();
    for (int p : inline_parts)
        fn(n * p / parts, n * (p + 1) / parts, p);
}

Status check_options(const StylometryOptions& o) {
    auto bad = [](std::string message) {
        auto error = make_error(ErrorCode::invalid_input, std::move(message));
        error.field = "options";
        return error;
    };
    if (o.char_max != 0 && (o.char_min < 1 || o.char_min > o.char_max || o.char_max > kMaxCharN))
        return bad(fmt::format("character n-grams need 1 <= char_min <= char_max <= {} (got {}-{})",
                               kMaxCharN, o.char_min, o.char_max));
    if (o.word_max != 0 && (o.word_min < 1 || o.word_min > o.word_max || o.word_max > kMaxWordN))
        return bad(fmt::format("word n-grams need 1 <= word_min <= word_max <= {} (got {}-{})",
                               kMaxWordN, o.word_min, o.word_max));
    if (o.char_max == 0 && o.word_max == 0)
        return bad("both character and word n-grams are turned off");
    if (o.min_df < 1 || o.max_features == 0 || !(o.c > 0) || !(o.tolerance > 0) || o.threads < 0)
        return bad(
            "min_df and max_features must be at least 1, c and tolerance positive, "
            "threads >= 0");
    return {};
}

}  // namespace

struct detail::StylometryModel {
    Extractor extractor;
    std::vector<std::string> authors;
    KeyTable index{1};           // feature key -> column
    std::vector<float> idf;      // per column
    std::vector<float> weights;  // by column: weights[column * authors + author]
    std::vector<double> bias;    // per author

    // Decision values in author order.
    std::vector<double> decide(std::string_view text) const;
};

namespace {

using Model = detail::StylometryModel;

void silence_liblinear() {
    static std::once_flag once;
    std::call_once(once, [] { set_print_string_function([](const char*) {}); });
}

// Every text's author as a position in `authors`, which lists them in order of first
// appearance.
Result<std::vector<int>> label_texts(const std::vector<LabelledText>& texts,
                                     std::vector<std::string>& authors) {
    std::unordered_map<std::string_view, int> index;
    std::vector<int> labels(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
        auto bad = [&](std::string field, std::string message) {
            auto error = make_error(ErrorCode::invalid_input, std::move(message));
            error.field = fmt::format("texts[{}].{}", i, field);
            return error;
        };
        if (texts[i].author.empty())
            return bad("author", "the author's name is empty");
        if (std::all_of(texts[i].text.begin(), texts[i].text.end(),
                        [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }))
            return bad("text", "the text is empty");
        auto [it, added] = index.emplace(texts[i].author, static_cast<int>(authors.size()));
        if (added)
            authors.push_back(texts[i].author);
        labels[i] = it->second;
    }
    if (authors.size() < 2)
        return make_error(ErrorCode::invalid_input,
                          fmt::format("a stylometric judge needs texts by at least two authors "
                                      "(got {})",
                                      authors.size()));
    return labels;
}

// The training texts' word ids (sorted words, so ids do not depend on threads) and the codes
// of their most frequent non-ASCII characters.
void learn_tables(const std::vector<LabelledText>& texts, int threads, Extractor& ex) {
    std::vector<WordSet> words(static_cast<size_t>(threads));
    std::vector<std::unordered_map<char32_t, size_t>> chars(static_cast<size_t>(threads));
    parallel_for(texts.size(), threads, [&](size_t begin, size_t end, int part) {
        auto& w = words[static_cast<size_t>(part)];
        auto& c = chars[static_cast<size_t>(part)];
        for (size_t i = begin; i < end; ++i)
            scan(
                texts[i].text,
                [&](char32_t cp) {
                    if (cp >= 128)
                        ++c[cp];
                },
                [&](std::string_view word) {
                    if (w.find(word) == w.end())
                        w.emplace(word);
                });
    });

    std::vector<std::string> all;
    for (auto& w : words)
        all.insert(all.end(), w.begin(), w.end());
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    all.resize(std::min<size_t>(all.size(), kMaxWords - 1));
    ex.word_ids.reserve(all.size());
    for (size_t i = 0; i < all.size(); ++i)
        ex.word_ids.emplace(std::move(all[i]), static_cast<uint32_t>(i));

    std::unordered_map<char32_t, size_t> total;
    for (auto& c : chars)
        for (auto [cp, n] : c)
            total[cp] += n;
    std::vector<std::pair<char32_t, size_t>> ranked(total.begin(), total.end());
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    ranked.resize(std::min(ranked.size(), kCommonNonAscii));
    for (size_t i = 0; i < ranked.size(); ++i)
        ex.char_codes.emplace(ranked[i].first, static_cast<uint8_t>(kFirstRareCode + i));
}

struct KeyCount {
    uint64_t key;
    uint32_t count;
};

std::vector<std::vector<KeyCount>> count_features(const std::vector<LabelledText>& texts,
                                                  const Extractor& ex, int threads) {
    std::vector<std::vector<KeyCount>> docs(texts.size());
    parallel_for(texts.size(), threads, [&](size_t begin, size_t end, int) {
        KeyTable counts(8192);
        std::vector<uint8_t> codes;
        std::vector<uint32_t> words;
        for (size_t i = begin; i < end; ++i) {
            counts.clear();
            ex.extract(texts[i].text, codes, words, counts);
            auto& doc = docs[i];
            doc.reserve(counts.size());
            counts.for_each([&](uint64_t key, uint32_t n) { doc.push_back({key, n}); });
        }
    });
    return docs;
}

// The kept features as (key, document frequency): df >= min_df, the most frequent first,
// ties by key. Each thread counts the keys of one hash shard over all texts.
std::vector<std::pair<uint64_t, uint32_t>> select_features(
    const std::vector<std::vector<KeyCount>>& docs, const StylometryOptions& o, int threads) {
    std::vector<std::vector<std::pair<uint64_t, uint32_t>>> kept(static_cast<size_t>(threads));
    const uint64_t shards = static_cast<uint64_t>(threads);
    size_t entries = 0;
    for (const auto& doc : docs)
        entries += doc.size();
    parallel_for(shards, threads, [&](size_t begin, size_t end, int) {
        for (size_t shard = begin; shard < end; ++shard) {
            KeyTable df(std::min<size_t>(entries / shards, 1 << 20));
            for (const auto& doc : docs)
                for (const auto& kc : doc)
                    if ((mix(kc.key) >> 40) % shards == shard)
                        ++df.at(kc.key);
            df.for_each([&](uint64_t key, uint32_t n) {
                if (n >= static_cast<uint32_t>(o.min_df))
                    kept[shard].emplace_back(key, n);
            });
        }
    });

    std::vector<std::pair<uint64_t, uint32_t>> all;
    for (auto& k : kept)
        all.insert(all.end(), k.begin(), k.end());
    auto order = [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    };
    if (all.size() > o.max_features) {
        std::nth_element(all.begin(), all.begin() + static_cast<ptrdiff_t>(o.max_features),
                         all.end(), order);
        all.resize(o.max_features);
    }
    std::sort(all.begin(), all.end(), order);
    return all;
}

double sublinear_tf(uint32_t count) {
    return 1.0 + std::log(static_cast<double>(count));
}

// One liblinear row per text: TF-IDF values in column order, L2-normalised, then the bias
// feature and the end marker.
std::vector<std::vector<feature_node>> build_rows(const std::vector<std::vector<KeyCount>>& docs,
                                                  const Model& m, int threads) {
    std::vector<std::vector<feature_node>> rows(docs.size());
    const int bias_index = static_cast<int>(m.idf.size()) + 1;
    parallel_for(docs.size(), threads, [&](size_t begin, size_t end, int) {
        for (size_t d = begin; d < end; ++d) {
            auto& row = rows[d];
            row.reserve(docs[d].size() + 2);
            double norm = 0;
            for (const auto& kc : docs[d]) {
                const uint32_t* column = m.index.find(kc.key);
                if (column == nullptr)
                    continue;
                const double v = sublinear_tf(kc.count) * m.idf[*column];
                row.push_back({static_cast<int>(*column) + 1, v});
                norm += v * v;
            }
            std::sort(row.begin(), row.end(), [](const feature_node& a, const feature_node& b) {
                return a.index < b.index;
            });
            const double scale = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
            for (auto& node : row)
                node.value *= scale;
            row.push_back({bias_index, 1.0});
            row.push_back({-1, 0.0});
        }
    });
    return rows;
}

// liblinear's solver shuffles with the C library's rand(): training reseeds it under this lock,
// so that a model does not depend on what ran before or beside it.
std::mutex& rand_mutex() {
    static std::mutex m;
    return m;
}

// One multi-class SVM (Crammer and Singer) over all authors. On CCAT50, one-vs-rest SVMs
// (liblinear's dual solver) needed about five times its training time for the same accuracy:
// it reads every text once per pass for all authors, and stops updating the authors a text
// is far from. The one-vs-rest models could not be trained on several threads either, since
// the solver shares rand() and the result would depend on scheduling.
Status train_model(const std::vector<std::vector<feature_node>>& rows,
                   const std::vector<int>& labels, const StylometryOptions& o, Model& m) {
    const size_t columns = m.idf.size();
    const size_t n_authors = m.authors.size();
    std::vector<feature_node*> x(rows.size());
    std::vector<double> y(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
        x[i] = const_cast<feature_node*>(rows[i].data());
        y[i] = labels[i];
    }
    problem prob{};
    prob.l = static_cast<int>(rows.size());
    prob.n = static_cast<int>(columns) + 1;
    prob.y = y.data();
    prob.x = x.data();
    prob.bias = 1.0;
    parameter param{};
    param.solver_type = MCSVM_CS;
    param.eps = o.tolerance;
    param.C = o.c;
    silence_liblinear();

    model* trained = nullptr;
    {
        std::lock_guard lock(rand_mutex());
        std::srand(1);
        trained = ::train(&prob, &param);
    }
    if (trained == nullptr || trained->nr_class != static_cast<int>(n_authors)) {
        if (trained != nullptr)
            free_and_destroy_model(&trained);
        return make_error(ErrorCode::internal, "liblinear failed to train the model");
    }

    // liblinear keeps w as [feature][class] with classes in its own order; ours is by author.
    const size_t k = n_authors;
    m.weights.assign(columns * n_authors, 0.0f);
    m.bias.assign(n_authors, 0.0);
    for (size_t c = 0; c < k; ++c) {
        const size_t a = static_cast<size_t>(trained->label[c]);
        for (size_t f = 0; f < columns; ++f)
            m.weights[f * n_authors + a] = static_cast<float>(trained->w[f * k + c]);
        m.bias[a] = trained->w[columns * k + c];
    }
    free_and_destroy_model(&trained);
    return {};
}

}  // namespace

std::vector<double> detail::StylometryModel::decide(std::string_view text) const {
    // Scratch space kept per thread: evaluating thousands of texts would otherwise spend much of
    // its time allocating and zeroing tables.
    thread_local KeyTable counts(8192);
    thread_local std::vector<uint8_t> codes;
    thread_local std::vector<uint32_t> words;
    counts.clear();
    extractor.extract(text, codes, words, counts);

    const size_t n_authors = authors.size();
    // Single precision in the inner loop, which the compiler vectorises; the sum over a few
    // thousand features loses nothing that changes an attribution.
    std::vector<float> dot(n_authors, 0.0f);
    double norm = 0;
    counts.for_each([&](uint64_t key, uint32_t n) {
        const uint32_t* column = index.find(key);
        if (column == nullptr)
            return;
        const double v = sublinear_tf(n) * idf[*column];
        norm += v * v;
        const float vf = static_cast<float>(v);
        const float* w = &weights[size_t{*column} * n_authors];
        for (size_t a = 0; a < n_authors; ++a)
            dot[a] += vf * w[a];
    });
    const double scale = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
    std::vector<double> values(n_authors);
    for (size_t a = 0; a < n_authors; ++a)
        values[a] = dot[a] * scale + bias[a];
    return values;
}

double StylometricJudge::Evaluation::accuracy() const {
    return n == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(n);
}

Result<StylometricJudge> StylometricJudge::train(const std::vector<LabelledText>& texts,
                                                 const StylometryOptions& options) {
    HA_TRY(check_options(options));
    const auto start = std::chrono::steady_clock::now();
    auto m = std::make_unique<Model>();
    m->extractor.options = options;

    HA_ASSIGN_OR_RETURN(const auto labels, label_texts(texts, m->authors));
    const int threads = thread_count(options.threads, texts.size());
    auto lap = [&, last = start, last_cpu = std::clock()](const char* what) mutable {
        const auto now = std::chrono::steady_clock::now();
        const auto cpu = std::clock();
        log::debug("stylometry: {} {:.0f} ms, cpu {:.0f} ms", what,
                   std::chrono::duration<double, std::milli>(now - last).count(),
                   1000.0 * static_cast<double>(cpu - last_cpu) / CLOCKS_PER_SEC);
        last = now;
        last_cpu = cpu;
    };
    learn_tables(texts, threads, m->extractor);
    lap("word and character tables");
    const auto docs = count_features(texts, m->extractor, threads);
    lap("n-gram counts");
    const auto features = select_features(docs, options, threads);
    lap("feature selection");
    if (features.empty())
        return make_error(ErrorCode::invalid_input,
                          fmt::format("no feature occurs in {} or more texts", options.min_df));

    m->index = KeyTable(features.size());
    m->idf.resize(features.size());
    const double n_docs = static_cast<double>(texts.size());
    for (size_t column = 0; column < features.size(); ++column) {
        m->index.at(features[column].first) = static_cast<uint32_t>(column);
        const double df = features[column].second;
        m->idf[column] = static_cast<float>(std::log((1.0 + n_docs) / (1.0 + df)) + 1.0);
    }
    const auto rows = build_rows(docs, *m, threads);
    lap("tf-idf rows");
    HA_TRY(train_model(rows, labels, options, *m));
    lap("svm training");

    const auto ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    size_t nonzero = 0;
    for (const auto& row : rows)
        nonzero += row.size() - 2;
    log::info(
        "stylometry: trained on {} texts by {} authors, {} features ({:.0f} per text), "
        "{:.0f} ms",
        texts.size(), m->authors.size(), features.size(),
        static_cast<double>(nonzero) / static_cast<double>(rows.size()), ms);
    return StylometricJudge(std::move(m));
}

StylometricJudge::StylometricJudge(std::unique_ptr<Model> model) : model_(std::move(model)) {}
StylometricJudge::StylometricJudge(StylometricJudge&&) noexcept = default;
StylometricJudge& StylometricJudge::operator=(StylometricJudge&&) noexcept = default;
StylometricJudge::~StylometricJudge() = default;

std::string StylometricJudge::attribute(std::string_view text) const {
    const auto values = model_->decide(text);
    const auto best = std::max_element(values.begin(), values.end());
    return model_->authors[static_cast<size_t>(best - values.begin())];
}

std::vector<std::pair<std::string, double>> StylometricJudge::scores(std::string_view text) const {
    const auto values = model_->decide(text);
    std::vector<std::pair<std::string, double>> out;
    out.reserve(values.size());
    for (size_t a = 0; a < values.size(); ++a)
        out.emplace_back(model_->authors[a], values[a]);
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& x, const auto& y) { return x.second > y.second; });
    return out;
}

StylometricJudge::Evaluation StylometricJudge::evaluate(
    const std::vector<LabelledText>& held_out) const {
    std::vector<char> right(held_out.size(), 0);
    const int threads = thread_count(model_->extractor.options.threads, held_out.size());
    parallel_for(held_out.size(), threads, [&](size_t begin, size_t end, int) {
        for (size_t i = begin; i < end; ++i)
            right[i] = attribute(held_out[i].text) == held_out[i].author;
    });
    Evaluation result;
    result.n = held_out.size();
    result.correct = static_cast<size_t>(std::count(right.begin(), right.end(), 1));
    return result;
}

const std::vector<std::string>& StylometricJudge::authors() const {
    return model_->authors;
}

size_t StylometricJudge::feature_count() const {
    return model_->idf.size();
}

}  // namespace hyperalign::eval
