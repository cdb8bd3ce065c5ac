#include "hyperalign/eval/stats.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "hyperalign/learn/rows.hpp"

namespace hyperalign::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double win_rate(const std::vector<Outcome>& outcomes) {
    Tally t;
    for (Outcome o : outcomes)
        t.add(o);
    return t.win_rate();
}

// The p-quantile of sorted values, interpolating linearly between order statistics.
double quantile(const std::vector<double>& sorted, double p) {
    const double h = double(sorted.size() - 1) * p;
    const size_t lo = size_t(std::floor(h));
    if (lo + 1 >= sorted.size())
        return sorted.back();
    return sorted[lo] + (h - double(lo)) * (sorted[lo + 1] - sorted[lo]);
}

}  // namespace

std::string_view to_string(Verdict verdict) {
    switch (verdict) {
        case Verdict::a:
            return "A";
        case Verdict::b:
            return "B";
        case Verdict::invalid:
            break;
    }
    return "invalid";
}

std::string_view to_string(Outcome outcome) {
    switch (outcome) {
        case Outcome::win:
            return "win";
        case Outcome::loss:
            return "loss";
        case Outcome::tie:
            break;
    }
    return "tie";
}

Outcome combine(Verdict method_as_a, Verdict method_as_b) {
    if (method_as_a == Verdict::a && method_as_b == Verdict::b)
        return Outcome::win;
    if (method_as_a == Verdict::b && method_as_b == Verdict::a)
        return Outcome::loss;
    return Outcome::tie;
}

void Tally::add(Outcome outcome) {
    switch (outcome) {
        case Outcome::win:
            ++wins;
            break;
        case Outcome::loss:
            ++losses;
            break;
        case Outcome::tie:
            ++ties;
            break;
    }
}

double Tally::win_rate() const {
    if (n() == 0)
        return kNaN;
    return (double(wins) + 0.5 * double(ties)) / double(n());
}

namespace {

// Completes `out` (whose estimate is set) with the percentile interval of `resamples`
// statistics, each computed by `resample` from the shared generator.
Interval with_percentile_interval(Interval out, uint64_t seed, int resamples, double level,
                                  const std::function<double(std::mt19937_64&)>& resample) {
    if (resamples < 1 || !(level > 0 && level < 1))
        return out;
    std::mt19937_64 rng(seed);
    std::vector<double> stats;
    stats.reserve(size_t(resamples));
    for (int r = 0; r < resamples; ++r)
        stats.push_back(resample(rng));
    std::sort(stats.begin(), stats.end());
    out.low = quantile(stats, (1 - level) / 2);
    out.high = quantile(stats, (1 + level) / 2);
    return out;
}

}  // namespace

Interval bootstrap_win_rate(const std::vector<std::vector<Outcome>>& groups, uint64_t seed,
                            int resamples, double level) {
    std::vector<const std::vector<Outcome>*> used;
    for (const auto& g : groups) {
        if (!g.empty())
            used.push_back(&g);
    }
    if (used.empty())
        return {kNaN, kNaN, kNaN};

    double sum = 0;
    for (const auto* g : used)
        sum += win_rate(*g);
    // Each resample keeps every group's size: the mean stays a mean over the same authors.
    return with_percentile_interval({sum / double(used.size()), kNaN, kNaN}, seed, resamples, level,
                                    [&](std::mt19937_64& rng) {
                                        double total = 0;
                                        for (const auto* g : used) {
                                            Tally t;
                                            for (size_t i = 0; i < g->size(); ++i)
                                                t.add((*g)[learn::uniform_below(rng, g->size())]);
                                            total += t.win_rate();
                                        }
                                        return total / double(used.size());
                                    });
}

Interval bootstrap_mean(const std::vector<double>& values, uint64_t seed, int resamples,
                        double level) {
    if (values.empty())
        return {kNaN, kNaN, kNaN};
    double sum = 0;
    for (double v : values)
        sum += v;
    return with_percentile_interval({sum / double(values.size()), kNaN, kNaN}, seed, resamples,
                                    level, [&](std::mt19937_64& rng) {
                                        double total = 0;
                                        for (size_t i = 0; i < values.size(); ++i)
                                            total +=
                                                values[learn::uniform_below(rng, values.size())];
                                        return total / double(values.size());
                                    });
}

BiasSummary summarize_bias(const std::vector<Judgement>& judgements) {
    BiasSummary s;
    int64_t first = 0;
    int64_t longer = 0;
    for (const auto& j : judgements) {
        ++s.judgements;
        if (j.verdict == Verdict::invalid) {
            ++s.invalid;
            continue;
        }
        if (j.verdict == Verdict::a)
            ++first;
        if (j.length_a == j.length_b)
            continue;
        ++s.length_decisive;
        const bool a_longer = j.length_a > j.length_b;
        if (a_longer == (j.verdict == Verdict::a))
            ++longer;
    }
    const int64_t valid = s.judgements - s.invalid;
    if (valid > 0)
        s.first_position_rate = double(first) / double(valid);
    if (s.length_decisive > 0)
        s.longer_wins_rate = double(longer) / double(s.length_decisive);
    return s;
}

}  // namespace hyperalign::eval
