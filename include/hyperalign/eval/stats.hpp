#pragma once

#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

namespace hyperalign::eval {

// What a pairwise judge said about one ordering of a pair: the candidate shown as A, the one
// shown as B, or nothing usable.
enum class Verdict { a, b, invalid };

// "A", "B" or "invalid".
std::string_view to_string(Verdict verdict);

// How the method fared against the other candidate over both orderings of one pair.
enum class Outcome { win, loss, tie };

// "win", "loss" or "tie".
std::string_view to_string(Outcome outcome);

// The method's outcome from two judgements of the same pair: `method_as_a` when the method was
// shown as A, `method_as_b` when it was shown as B. A win when both pick the method, a loss when
// both pick the other candidate, a tie otherwise (the verdict followed the position, or either
// verdict is invalid).
Outcome combine(Verdict method_as_a, Verdict method_as_b);

// Counts of outcomes, kept raw so that other tie rules can be computed later.
struct Tally {
    int64_t wins = 0;
    int64_t losses = 0;
    int64_t ties = 0;

    void add(Outcome outcome);
    int64_t n() const { return wins + losses + ties; }
    // (wins + ties / 2) / n; NaN when n == 0.
    double win_rate() const;
};

// A point estimate with its confidence interval. NaN fields when there was nothing to estimate.
struct Interval {
    double estimate = 0;
    double low = 0;
    double high = 0;
};

// The mean over groups (authors) of each group's win rate, with a percentile bootstrap
// interval. Each resample redraws the outcomes within every group with replacement (stratified
// by group, so every group keeps its size and its weight in the mean); the `resamples` draws
// come from std::mt19937_64(seed) in a fixed order (groups in order, items in order), so the same
// input and seed give the same interval on every platform. Percentiles interpolate linearly
// between order statistics. Groups with no outcomes are skipped; a single group gives that
// group's own interval. With no outcomes at all every field is NaN; with `resamples` < 1 or
// `level` outside (0, 1) the bounds are NaN.
Interval bootstrap_win_rate(const std::vector<std::vector<Outcome>>& groups, uint64_t seed,
                            int resamples = 2000, double level = 0.95);

// The mean of `values` (per-prompt scores, or 0/1 outcomes) with a percentile bootstrap
// interval drawn as bootstrap_win_rate's are. All fields NaN for no values.
Interval bootstrap_mean(const std::vector<double>& values, uint64_t seed, int resamples = 2000,
                        double level = 0.95);

// One judgement as shown to the judge, for the bias summary.
struct Judgement {
    Verdict verdict = Verdict::invalid;
    size_t length_a = 0;  // bytes of the candidate shown as A
    size_t length_b = 0;  // bytes of the candidate shown as B
};

// How much a judge's verdicts follow position and length rather than content. Rates are NaN
// when nothing counts towards them.
struct BiasSummary {
    int64_t judgements = 0;
    int64_t invalid = 0;
    // Share of valid verdicts naming A (0.5 for a judge without position bias, on balanced input).
    double first_position_rate = std::numeric_limits<double>::quiet_NaN();
    // Valid verdicts on candidates of unequal length, and the share of them naming the longer.
    int64_t length_decisive = 0;
    double longer_wins_rate = std::numeric_limits<double>::quiet_NaN();
};

BiasSummary summarize_bias(const std::vector<Judgement>& judgements);

}  // namespace hyperalign::eval
