#include "hyperalign/eval/stats.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace hyperalign::eval {
namespace {

constexpr Outcome W = Outcome::win;
constexpr Outcome L = Outcome::loss;
constexpr Outcome T = Outcome::tie;

TEST(Combine, WinsOnlyWhenBothOrdersPickTheMethod) {
    const Verdict a = Verdict::a;
    const Verdict b = Verdict::b;
    const Verdict x = Verdict::invalid;
    // First argument: the method was shown as A; second: the method was shown as B.
    EXPECT_EQ(combine(a, b), Outcome::win);
    EXPECT_EQ(combine(b, a), Outcome::loss);
    EXPECT_EQ(combine(a, a), Outcome::tie);  // always the first position
    EXPECT_EQ(combine(b, b), Outcome::tie);  // always the second position
    EXPECT_EQ(combine(a, x), Outcome::tie);
    EXPECT_EQ(combine(x, b), Outcome::tie);
    EXPECT_EQ(combine(b, x), Outcome::tie);
    EXPECT_EQ(combine(x, a), Outcome::tie);
    EXPECT_EQ(combine(x, x), Outcome::tie);
}

TEST(Combine, NamesItsValues) {
    EXPECT_EQ(to_string(Verdict::a), "A");
    EXPECT_EQ(to_string(Verdict::b), "B");
    EXPECT_EQ(to_string(Verdict::invalid), "invalid");
    EXPECT_EQ(to_string(Outcome::win), "win");
    EXPECT_EQ(to_string(Outcome::loss), "loss");
    EXPECT_EQ(to_string(Outcome::tie), "tie");
}

TEST(Tally, CountsTiesAsHalfAWin) {
    Tally t;
    for (Outcome o : {W, W, W, L, T, T})
        t.add(o);
    EXPECT_EQ(t.wins, 3);
    EXPECT_EQ(t.losses, 1);
    EXPECT_EQ(t.ties, 2);
    EXPECT_EQ(t.n(), 6);
    EXPECT_DOUBLE_EQ(t.win_rate(), 4.0 / 6.0);

    Tally ties;
    ties.add(T);
    ties.add(T);
    EXPECT_DOUBLE_EQ(ties.win_rate(), 0.5);
}

TEST(Tally, HasNoWinRateWhenEmpty) {
    EXPECT_EQ(Tally{}.n(), 0);
    EXPECT_TRUE(std::isnan(Tally{}.win_rate()));
}

TEST(Bootstrap, EstimateIsTheMeanOfTheGroupsWinRates) {
    // 1/2 for the first author, (2 + 2/2)/4 = 3/4 for the second; the mean is not the pooled
    // rate (4/6).
    auto r = bootstrap_win_rate({{W, L}, {W, W, T, T}}, 7);
    EXPECT_DOUBLE_EQ(r.estimate, 0.625);
    EXPECT_LE(r.low, r.estimate);
    EXPECT_GE(r.high, r.estimate);
    EXPECT_LT(r.low, r.high);
}

TEST(Bootstrap, SameSeedGivesTheSameIntervalAndAnotherSeedAnother) {
    const std::vector<std::vector<Outcome>> groups = {
        {W, L, T, W, W, L, T, W, L, W, T, L, W}, {L, L, W, T, W, L, L, T, W}, {W, T, W, W, L}};
    auto a = bootstrap_win_rate(groups, 42);
    auto b = bootstrap_win_rate(groups, 42);
    auto c = bootstrap_win_rate(groups, 43);
    EXPECT_EQ(a.estimate, b.estimate);
    EXPECT_EQ(a.low, b.low);
    EXPECT_EQ(a.high, b.high);
    EXPECT_EQ(a.estimate, c.estimate);
    EXPECT_TRUE(a.low != c.low || a.high != c.high);
}

TEST(Bootstrap, AllWinsGiveOneToOne) {
    auto r = bootstrap_win_rate({{W, W, W}, {W}}, 1);
    EXPECT_EQ(r.estimate, 1.0);
    EXPECT_EQ(r.low, 1.0);
    EXPECT_EQ(r.high, 1.0);
}

TEST(Bootstrap, ResamplesWithinEachGroup) {
    // Every resample keeps ten outcomes per author, so the mean is 1/2 every time; pooling the
    // twenty outcomes would spread it.
    std::vector<Outcome> wins(10, W);
    std::vector<Outcome> losses(10, L);
    auto r = bootstrap_win_rate({wins, losses}, 3);
    EXPECT_EQ(r.estimate, 0.5);
    EXPECT_EQ(r.low, 0.5);
    EXPECT_EQ(r.high, 0.5);
}

TEST(Bootstrap, PercentilesSpanTheResampledRates) {
    // A win and a loss resample to 0, 1/2 or 1 (a quarter, a half, a quarter of the time): out of
    // 2000 draws, far more than the 2.5% tails fall on 0 and on 1.
    auto r = bootstrap_win_rate({{W, L}}, 11);
    EXPECT_EQ(r.estimate, 0.5);
    EXPECT_EQ(r.low, 0.0);
    EXPECT_EQ(r.high, 1.0);
    // Half the draws are 1/2: the central 40% is exactly there.
    auto narrow = bootstrap_win_rate({{W, L}}, 11, 2000, 0.4);
    EXPECT_EQ(narrow.low, 0.5);
    EXPECT_EQ(narrow.high, 0.5);
}

TEST(Bootstrap, SkipsEmptyGroups) {
    const std::vector<Outcome> g = {W, L, T, W, L, L, W};
    auto alone = bootstrap_win_rate({g}, 5);
    auto padded = bootstrap_win_rate({{}, g, {}}, 5);
    EXPECT_DOUBLE_EQ(alone.estimate, 3.5 / 7.0);
    EXPECT_EQ(alone.estimate, padded.estimate);
    EXPECT_EQ(alone.low, padded.low);
    EXPECT_EQ(alone.high, padded.high);
}

TEST(Bootstrap, HasNothingToEstimateWithoutOutcomes) {
    auto r = bootstrap_win_rate({{}, {}}, 5);
    EXPECT_TRUE(std::isnan(r.estimate));
    EXPECT_TRUE(std::isnan(r.low));
    EXPECT_TRUE(std::isnan(r.high));
    auto none = bootstrap_win_rate({}, 5);
    EXPECT_TRUE(std::isnan(none.estimate));
}

TEST(Bootstrap, GivesNoBoundsForAMeaninglessRequest) {
    auto zero = bootstrap_win_rate({{W, L}}, 5, 0);
    EXPECT_EQ(zero.estimate, 0.5);
    EXPECT_TRUE(std::isnan(zero.low) && std::isnan(zero.high));
    auto level = bootstrap_win_rate({{W, L}}, 5, 100, 1.0);
    EXPECT_EQ(level.estimate, 0.5);
    EXPECT_TRUE(std::isnan(level.low) && std::isnan(level.high));
}

TEST(BiasSummary, CountsPositionAndLengthPreferences) {
    std::vector<Judgement> js = {
        {Verdict::a, 10, 5},       // A, the longer
        {Verdict::a, 5, 10},       // A, the shorter
        {Verdict::b, 3, 3},        // equal lengths: not length-decisive
        {Verdict::invalid, 1, 2},  // not counted in any rate
        {Verdict::b, 8, 2},        // B, the shorter
        {Verdict::a, 7, 7},
    };
    BiasSummary s = summarize_bias(js);
    EXPECT_EQ(s.judgements, 6);
    EXPECT_EQ(s.invalid, 1);
    EXPECT_DOUBLE_EQ(s.first_position_rate, 3.0 / 5.0);
    EXPECT_EQ(s.length_decisive, 3);
    EXPECT_DOUBLE_EQ(s.longer_wins_rate, 1.0 / 3.0);
}

TEST(BiasSummary, CountsALongerBAsTheLongerWinning) {
    BiasSummary s = summarize_bias({{Verdict::b, 2, 9}, {Verdict::b, 4, 6}});
    EXPECT_EQ(s.first_position_rate, 0.0);
    EXPECT_EQ(s.length_decisive, 2);
    EXPECT_EQ(s.longer_wins_rate, 1.0);
}

TEST(BiasSummary, HasNoRatesWithoutValidVerdicts) {
    BiasSummary s = summarize_bias({{Verdict::invalid, 1, 2}});
    EXPECT_EQ(s.judgements, 1);
    EXPECT_EQ(s.invalid, 1);
    EXPECT_TRUE(std::isnan(s.first_position_rate));
    EXPECT_EQ(s.length_decisive, 0);
    EXPECT_TRUE(std::isnan(s.longer_wins_rate));
    EXPECT_TRUE(std::isnan(summarize_bias({}).first_position_rate));
}

}  // namespace
}  // namespace hyperalign::eval

namespace hyperalign::eval {
namespace {

TEST(BootstrapMean, EstimateIsTheMeanAndTheSeedFixesTheInterval) {
    const std::vector<double> v{0, 0.25, 0.5, 1, 1};
    const Interval a = bootstrap_mean(v, 7, 500);
    EXPECT_DOUBLE_EQ(a.estimate, 0.55);
    EXPECT_LE(a.low, a.estimate);
    EXPECT_GE(a.high, a.estimate);
    const Interval b = bootstrap_mean(v, 7, 500);
    EXPECT_EQ(a.low, b.low);
    EXPECT_EQ(a.high, b.high);
    const Interval ones = bootstrap_mean({1, 1, 1}, 3, 200);
    EXPECT_DOUBLE_EQ(ones.low, 1.0);
    EXPECT_DOUBLE_EQ(ones.high, 1.0);
    EXPECT_TRUE(std::isnan(bootstrap_mean({}, 1).estimate));
}

}  // namespace
}  // namespace hyperalign::eval
