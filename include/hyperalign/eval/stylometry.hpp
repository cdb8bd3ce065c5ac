#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hyperalign/core/result.hpp"

namespace hyperalign::eval {

namespace detail {
struct StylometryModel;
}

// A text and the person who wrote it.
struct LabelledText {
    std::string author;
    std::string text;
};

// Features and model of the stylometric judge. The defaults were chosen on CCAT50 (train_raw
// to test_raw, 50-way; bench/bench_stylometry.cpp, 2 cores): case-sensitive character
// 1-4-grams and lower-cased word 1-2-grams, the 50,000 in most texts, and a solver tolerance of
// 1.0 attribute 74.8% of the test texts correctly, against 73.5% for scikit-learn's character
// 2-4-gram one-vs-rest SVM, in 3.4 s instead of 25 s. A tighter tolerance buys a little
// accuracy for time (0.5: 75.1% in 5.7 s; 0.1: 75.3% in 7.8 s), 2.0 loses much (62.5%), and
// 200,000 features gain nothing (74.5% in 4.7 s).
struct StylometryOptions {
    int char_min = 1;  // character n-gram lengths; char_max 0 turns them off, at most 7
    int char_max = 4;
    int word_min = 1;  // lower-cased word n-gram lengths; word_max 0 turns them off, at most 2
    int word_max = 2;
    int min_df = 2;               // a feature must occur in this many training texts
    size_t max_features = 50000;  // keep the features in most texts (ties: fixed key order)
    double c = 1.0;               // the SVM's cost of a margin violation
    double tolerance = 1.0;       // liblinear's stopping tolerance (its default is 0.1)
    int threads = 0;              // 0: std::thread::hardware_concurrency()
};

// Attributes a text to one of the authors it was trained on, by style alone and with no
// language model: TF-IDF over character and word n-grams (sublinear tf, smooth idf, rows
// L2-normalised) and a linear multi-class SVM (Crammer and Singer's, liblinear's MCSVM_CS, with
// a bias feature), one weight vector per author.
//
// Characters are Unicode code points of the text with every whitespace run made one space; the
// 127 most frequent non-ASCII characters of the training texts keep their identity, rarer ones
// share one symbol. Words are runs of letters and digits, lower-cased.
//
// Training is deterministic: the same texts and options give the same model, whatever the
// thread count. Features are counted on `threads` threads; the solver runs on one, and since it
// draws from the C library's rand(), training reseeds rand() (srand(1)) under a process-wide
// lock: other code calling rand() at the same time would make it irreproducible. A trained judge
// is immutable: its const members are safe to call from several threads at once. Texts are
// never logged.
class StylometricJudge {
  public:
    struct Evaluation {
        size_t n = 0;             // held-out texts
        size_t correct = 0;       // attributed to their own author
        double accuracy() const;  // correct / n; 0 when n is 0
    };

    // Trains on `texts` (any order; authors are kept in order of first appearance).
    // invalid_input (field "texts[i].author" / "texts[i].text" where one text is at fault) for
    // fewer than two authors, an empty author name, a text without a non-whitespace character,
    // options out of range, or no feature left after min_df.
    static Result<StylometricJudge> train(const std::vector<LabelledText>& texts,
                                          const StylometryOptions& options = {});

    // A moved-from judge may only be assigned to or destroyed.
    StylometricJudge(StylometricJudge&&) noexcept;
    StylometricJudge& operator=(StylometricJudge&&) noexcept;
    ~StylometricJudge();

    // The author with the highest decision value (on a tie, the one trained first). Any text,
    // also an empty one or invalid UTF-8, gets an answer.
    std::string attribute(std::string_view text) const;

    // Every author with the decision value of their weight vector for `text`, highest first (ties
    // in training order).
    std::vector<std::pair<std::string, double>> scores(std::string_view text) const;

    // Attributes every text (in parallel) and counts those given to their own author; a text of
    // an author the judge does not know counts as wrong. With generated texts labelled with the
    // author they imitate, it measures how often a generation passes for that author.
    Evaluation evaluate(const std::vector<LabelledText>& held_out) const;

    const std::vector<std::string>& authors() const;
    size_t feature_count() const;  // features kept after min_df and max_features

  private:
    explicit StylometricJudge(std::unique_ptr<detail::StylometryModel> model);
    std::unique_ptr<detail::StylometryModel> model_;
};

}  // namespace hyperalign::eval
