#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hyperalign/learn/hypothesis_engine.hpp"
#include "support/scripted_backend.hpp"

namespace hyperalign::learn {
namespace {

using testing::ScriptedBackend;
using testing::user_text;

// HypoGenic's reward with alpha 0.5: acc + 0.5 * sqrt(ln t / n).
double ucb(double acc, int t, int n) {
    return acc + 0.5 * std::sqrt(std::log(double(t)) / double(n));
}

// n pair rows; the person's text of row i says "PERSON-TEXT number i".
TaskRows pair_rows(size_t n) {
    TaskRows rows;
    std::vector<bool> first = balanced_positions(n, 7);
    for (size_t i = 0; i < n; ++i) {
        rows.pairs.push_back({"row" + std::to_string(i), "Write about topic " + std::to_string(i),
                              "PERSON-TEXT number " + std::to_string(i) + ".",
                              "OTHER-TEXT number " + std::to_string(i) + ".", first[i]});
    }
    return rows;
}

// The rows whose texts a request shows (rows are numbered 0..9 at most).
std::vector<size_t> rows_in(const llm::ChatRequest& r) {
    std::string all;
    for (const auto& m : r.messages)
        all += m.content;
    std::vector<size_t> out;
    for (size_t i = 0; i < 10; ++i) {
        if (all.find("PERSON-TEXT number " + std::to_string(i) + ".") != std::string::npos)
            out.push_back(i);
    }
    return out;
}

// What the scripted model says: the hypotheses it proposes from the rows of a generation
// prompt, and whether a hypothesis (found in the user message) predicts a row right.
struct Model {
    std::function<std::vector<std::string>(const std::vector<size_t>& rows)> propose;
    std::function<bool(const std::string& hypothesis_prompt, size_t row)> right;
};

ScriptedBackend::Script script(Model m) {
    return [m](const llm::ChatRequest& r) {
        const std::vector<size_t> shown = rows_in(r);
        if (r.purpose == "hypothesis_generation")
            return nlohmann::json{{"hypotheses", m.propose(shown)}}.dump();
        const std::string& sys = r.messages.front().content;
        const bool a_is_person = sys.find("PERSON-TEXT") < sys.find("OTHER-TEXT");
        const bool right = m.right(user_text(r), shown.at(0));
        const char* answer = a_is_person == right ? "A" : "B";
        return nlohmann::json{{"reasoning", "checked"}, {"answer", answer}}.dump();
    };
}

// A scripted backend, client and engine for one learn() run.
struct Harness {
    Harness(Model model, EngineOptions options)
        : backend(script(std::move(model))),
          client(backend),
          fitter(backend),
          engine(client, fitter, options) {}

    // The rows shown by each generation request, in order.
    std::vector<std::vector<size_t>> generations() const {
        std::vector<std::vector<size_t>> out;
        for (const auto& r : backend.requests) {
            if (r.purpose == "hypothesis_generation")
                out.push_back(rows_in(r));
        }
        return out;
    }
    int64_t scoring_calls() { return client.accounting().by_purpose["scoring"].calls; }

    std::vector<Hypothesis> learn(const TaskRows& rows) {
        auto bank = engine.learn(rows);
        EXPECT_TRUE(bank.ok()) << (bank.ok() ? "" : bank.error().describe());
        return bank.ok() ? *bank : std::vector<Hypothesis>{};
    }

    ScriptedBackend backend;
    llm::Client client;
    TextFitter fitter;
    HypothesisEngine engine;
};

bool has(const std::string& text, const std::string& word) {
    return text.find(word) != std::string::npos;
}

const Hypothesis& find(const std::vector<Hypothesis>& bank, const std::string& word) {
    for (const auto& h : bank) {
        if (has(h.text, word))
            return h;
    }
    static const Hypothesis none;
    ADD_FAILURE() << "no hypothesis mentions " << word;
    return none;
}

std::vector<BankEvent> events(const HypothesisEngine& e, const std::string& kind) {
    std::vector<BankEvent> out;
    for (const auto& ev : e.history()) {
        if (ev.kind == kind)
            out.push_back(ev);
    }
    return out;
}

// "The person writes in the <name> manner." for each name.
std::vector<std::string> manners(const std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (const auto& n : names)
        out.push_back("The person writes in the " + n + " manner.");
    return out;
}

EngineOptions options(int num_init) {
    EngineOptions o;
    o.num_init = num_init;
    return o;
}

TEST(HypoGenicThreshold, IsTestedTimesRowOverRowsTimesScale) {
    // 5 * 4 / 8 * 0.8 = 2.0; 5 * 5 / 8 * 0.8 = 2.5; 10 * 7 / 8 * 0.8 = 7.0.
    EXPECT_DOUBLE_EQ(wrong_threshold(5, 4, 8, 0.8), 2.0);
    EXPECT_DOUBLE_EQ(wrong_threshold(5, 5, 8, 0.8), 2.5);
    EXPECT_DOUBLE_EQ(wrong_threshold(10, 7, 8, 0.8), 7.0);
    EXPECT_DOUBLE_EQ(wrong_threshold(10, 0, 8, 0.8), 0.0);
    // HypoGenic never assigns a threshold for a scale <= 0; we read it as 0.
    EXPECT_DOUBLE_EQ(wrong_threshold(5, 7, 8, 0.0), 0.0);
    EXPECT_DOUBLE_EQ(wrong_threshold(5, 7, 8, -1.0), 0.0);
}

TEST(HypoGenicTopK, TakesHighestRewardsAndKeepsBankOrderForTies) {
    std::vector<Hypothesis> bank(4);
    const double rewards[] = {0.5, 0.9, 0.5, 0.9};
    for (size_t b = 0; b < 4; ++b)
        bank[b].reward = rewards[b];
    EXPECT_EQ(top_by_reward(bank, 3), (std::vector<size_t>{1, 3, 0}));
    EXPECT_EQ(top_by_reward(bank, -1), (std::vector<size_t>{1, 3, 0, 2}));
    EXPECT_TRUE(top_by_reward(bank, 0).empty());
}

TEST(HypoGenicLoop, RewardAfterInitialisationUsesNumInitAsT) {
    // Four rows, all of them for initialisation: no online phase.
    Harness run({[](const auto&) {
                     return manners({"alpha", "beta"});
                 },
                 [](const std::string& h, size_t row) { return has(h, "alpha") && row != 3; }},
                options(4));
    auto bank = run.learn(pair_rows(4));
    ASSERT_EQ(bank.size(), 2u);
    // alpha: right on rows 0-2 of 4, acc 0.75, t = num_init = 4:
    // 0.75 + 0.5 * sqrt(ln 4 / 4) = 0.75 + 0.5 * 0.58871 = 1.04435.
    EXPECT_EQ(bank[0].visits, 4);
    EXPECT_DOUBLE_EQ(bank[0].accuracy, 0.75);
    EXPECT_NEAR(bank[0].reward, 1.04435, 1e-5);
    EXPECT_DOUBLE_EQ(bank[0].reward, ucb(0.75, 4, 4));
    // beta: never right, 0 + 0.29435.
    EXPECT_NEAR(bank[1].reward, 0.29435, 1e-5);
    EXPECT_EQ(bank[0].origin, "init:batch 1");
    ASSERT_EQ(run.engine.history().size(), 2u);
    EXPECT_EQ(run.engine.history()[0].kind, "added");
    EXPECT_EQ(run.engine.history()[0].row, -1);
    EXPECT_EQ(run.generations().size(), 1u);
    EXPECT_EQ(run.scoring_calls(), 8);
}

TEST(HypoGenicLoop, NumInitZeroMeansEveryRowAndNoOnlinePhase) {
    Harness run({[](const auto&) {
                     return manners({"alpha", "beta"});
                 },
                 [](const std::string&, size_t) { return false; }},
                options(0));
    auto bank = run.learn(pair_rows(8));
    // Two blocks of four rows (init_batch_size 4), two hypotheses each on eight rows, and no
    // regeneration although every prediction is wrong.
    EXPECT_EQ(run.generations().size(), 2u);
    EXPECT_EQ(run.scoring_calls(), 16);
    ASSERT_EQ(bank.size(), 2u);
    EXPECT_EQ(bank[0].visits, 8);
}

TEST(HypoGenicLoop, RewardsOfUntestedHypothesesAreRefreshedAsTGrows) {
    // k = 1: only the best-reward hypothesis predicts rows 4-7.
    EngineOptions o = options(4);
    o.k = 1;
    Harness run({[](const auto&) {
                     return manners({"alpha", "beta"});
                 },
                 [](const std::string& h, size_t) { return has(h, "alpha"); }},
                o);
    auto bank = run.learn(pair_rows(8));
    ASSERT_EQ(bank.size(), 2u);
    // After initialisation: alpha 1 + 0.29435 = 1.29435, beta 0 + 0.29435. alpha is tested on
    // every later row and is right, so no row is hard (0 wrong < 1 * i / 8 * 0.8 > 0).
    const Hypothesis& alpha = find(bank, "alpha");
    const Hypothesis& beta = find(bank, "beta");
    EXPECT_EQ(alpha.visits, 8);
    // alpha at t = 8 over 8 visits: 1 + 0.5 * sqrt(2.07944 / 8) = 1.25492.
    EXPECT_NEAR(alpha.reward, 1.25492, 1e-5);
    // beta is never tested again but its bonus follows t: 0 + 0.5 * sqrt(ln 8 / 4) = 0.36051,
    // not the 0.29435 of t = 4 that HypoGenic would leave it with.
    EXPECT_EQ(beta.visits, 4);
    EXPECT_NEAR(beta.reward, 0.36051, 1e-5);
    EXPECT_DOUBLE_EQ(beta.reward, ucb(0.0, 8, 4));
    EXPECT_EQ(run.generations().size(), 1u);
    EXPECT_EQ(run.scoring_calls(), 2 * 4 + 4);
}

TEST(HypoGenicLoop, TopKPrefersTheLeastVisitedAndKeepsBankOrderForTies) {
    // Twelve hypotheses h01..h12, all always right, k = 10 (the default).
    std::vector<std::string> names;
    for (int j = 1; j <= 12; ++j)
        names.push_back(fmt::format("h{:02}", j));
    EngineOptions o = options(4);
    o.hypotheses_per_batch = 12;
    Harness run({[&](const auto&) { return manners(names); },
                 [](const std::string&, size_t) { return true; }},
                o);
    auto bank = run.learn(pair_rows(8));
    ASSERT_EQ(bank.size(), 12u);
    // Equal accuracy everywhere, so the reward only falls with visits:
    //   row 4: all tie at 4 visits -> h01..h10 in bank order; h11, h12 stay at 4
    //   row 5: h11, h12 (4 visits) first, then h01..h08 -> h09, h10 stay at 5
    //   row 6: h09..h12 (5 visits), then h01..h06      -> h07, h08 stay at 6
    //   row 7: h07..h12 (6 visits), then h01..h04      -> h05, h06 stay at 7
    // So h01..h04 end with 8 visits and h05..h12 with 7; ranking puts the 8s first.
    for (int j = 0; j < 12; ++j) {
        EXPECT_EQ(find(bank, names[j]).visits, j < 4 ? 8 : 7) << names[j];
        EXPECT_EQ(bank[j].visits, j < 4 ? 8 : 7);
    }
    EXPECT_EQ(run.scoring_calls(), 12 * 4 + 10 * 4);
}

TEST(HypoGenicLoop, KMinusOneTestsEveryHypothesis) {
    // HypoGenic's slice [:-1] would leave the lowest-reward hypothesis out; -1 means all here.
    std::vector<std::string> names;
    for (int j = 1; j <= 12; ++j)
        names.push_back(fmt::format("h{:02}", j));
    EngineOptions o = options(4);
    o.hypotheses_per_batch = 12;
    o.k = -1;
    Harness run({[&](const auto&) { return manners(names); },
                 [](const std::string& h, size_t) { return !has(h, "h12"); }},
                o);
    auto bank = run.learn(pair_rows(8));
    ASSERT_EQ(bank.size(), 12u);
    for (const auto& h : bank)
        EXPECT_EQ(h.visits, 8) << h.text;
    // h12 has the lowest reward throughout and is still tested on rows 4-7.
    EXPECT_EQ(find(bank, "h12").visits, 8);
    EXPECT_EQ(run.scoring_calls(), 12 * 8);
}

// Five hypotheses m1..m5, right on every initialisation row; regenerations propose m1 again,
// which leaves the bank as it is, so each hard row shows up as one generation prompt.
Model five_with_wrong(std::function<bool(int hypothesis, size_t row)> wrong) {
    return {[](const std::vector<size_t>& shown) {
                if (shown.front() < 4)
                    return manners({"m1", "m2", "m3", "m4", "m5"});
                return manners({"m1"});
            },
            [wrong](const std::string& h, size_t row) {
                for (int j = 1; j <= 5; ++j) {
                    if (has(h, "m" + std::to_string(j)))
                        return !wrong(j, row);
                }
                return false;
            }};
}

EngineOptions one_row_pool(int num_init) {
    EngineOptions o = options(num_init);
    o.k = -1;
    o.update_batch_size = 1;
    o.num_hypotheses_to_update = 1;
    return o;
}

TEST(HypoGenicLoop, ARowIsHardWhenWrongCountReachesTheThreshold) {
    // Of the 5 tested, m1 and m2 fail rows 4-7 and m3 also fails rows 6-7:
    //   row 4: 2 wrong >= 5 * 4 / 8 * 0.8 = 2.0 -> hard
    //   row 5: 2 wrong <  2.5                    -> not
    //   row 6: 3 wrong >= 3.0                    -> hard
    //   row 7: 3 wrong <  3.5                    -> not
    Harness run(five_with_wrong(
                    [](int h, size_t row) { return row >= 4 && (h <= 2 || (h == 3 && row >= 6)); }),
                one_row_pool(4));
    auto bank = run.learn(pair_rows(8));
    EXPECT_EQ(run.generations(), (std::vector<std::vector<size_t>>{{0, 1, 2, 3}, {4}, {6}}));
    // The regenerated m1 is already in the bank: it keeps its record, and nothing is scored
    // for it (5 * 4 initial + 5 * 4 online predictions).
    EXPECT_EQ(events(run.engine, "duplicate").size(), 2u);
    EXPECT_EQ(run.scoring_calls(), 40);
    EXPECT_EQ(bank.size(), 5u);
}

TEST(HypoGenicLoop, ScaleZeroMakesEveryRowHard) {
    // Every prediction is right, yet with no threshold every online row is hard.
    for (double scale : {0.0, -1.0}) {
        EngineOptions o = one_row_pool(4);
        o.num_wrong_scale = scale;
        Harness run(five_with_wrong([](int, size_t) { return false; }), o);
        run.learn(pair_rows(8));
        EXPECT_EQ(run.generations(),
                  (std::vector<std::vector<size_t>>{{0, 1, 2, 3}, {4}, {5}, {6}, {7}}))
            << scale;
    }
}

TEST(HypoGenicLoop, RegenerationFiresWhenThePoolHoldsBatchSizeTimesUpdates) {
    // Pool of 2 * 2 = 4 rows; every prediction is wrong, so every online row (2-7) is hard.
    // The pool fills at row 5 and is sent twice; rows 6-7 never fill it again.
    EngineOptions o = options(2);
    o.update_batch_size = 2;
    o.num_hypotheses_to_update = 2;
    auto replies = std::make_shared<int>(0);
    Harness run({[replies](const std::vector<size_t>& shown) {
                     if (shown.front() == 0)
                         return manners({"seed"});
                     // The second reply repeats one text of the first.
                     return ++*replies == 1 ? manners({"g1", "g2"}) : manners({"g2", "g3"});
                 },
                 [](const std::string&, size_t) { return false; }},
                o);
    auto bank = run.learn(pair_rows(8));
    EXPECT_EQ(run.generations(),
              (std::vector<std::vector<size_t>>{{0, 1}, {2, 3, 4, 5}, {2, 3, 4, 5}}));
    ASSERT_EQ(bank.size(), 4u);
    // g1, g2, g3 were scored on the 4 pool rows at t = 6, then tested on rows 6 and 7:
    // 6 visits, 0 right, reward 0 + 0.5 * sqrt(ln 8 / 6) = 0.29435.
    for (const char* g : {"g1", "g2", "g3"}) {
        const Hypothesis& h = find(bank, g);
        EXPECT_EQ(h.visits, 6) << g;
        EXPECT_EQ(h.origin, "update:row 5") << g;
        EXPECT_NEAR(h.reward, 0.29435, 1e-5) << g;
    }
    // seed: 2 + 6 predictions. g2 is scored once, though proposed twice:
    // 1 * 2 (init) + 1 * 4 (rows 2-5) + 3 * 4 (g1, g2, g3 on the pool) + 4 * 2 (rows 6-7) = 26.
    EXPECT_EQ(find(bank, "seed").visits, 8);
    EXPECT_EQ(run.scoring_calls(), 26);
    EXPECT_EQ(events(run.engine, "added").size(), 1u + 3u);
}

TEST(HypoGenicLoop, ReplacementKeepsTheBestByRewardAndTheBanksOwnRecords) {
    // Five rows, num_init 4, H = 3. On rows 0-3: a always right, b right on rows 0-1, c never.
    // Row 4 (t = 5): everyone is wrong, 3 >= 3 * 4 / 5 * 0.8 = 1.92, the pool of 1 is full.
    // The regeneration proposes b (already in the bank), d (right on row 4) and e (wrong).
    EngineOptions o = one_row_pool(4);
    o.max_hypotheses = 3;
    o.update_hypotheses_per_batch = 3;
    Harness run(
        {[](const std::vector<size_t>& shown) {
             return shown.front() == 0 ? manners({"a", "b", "c"}) : manners({"b", "d", "e"});
         },
         [](const std::string& h, size_t row) {
             if (row == 4)
                 return has(h, "the d ");
             return has(h, "the a ") || (has(h, "the b ") && row < 2);
         }},
        o);
    auto bank = run.learn(pair_rows(5));
    // Rewards at t = 5:
    //   a: 4 of 5, 0.8 + 0.5 * sqrt(ln 5 / 5) = 0.8 + 0.28368 = 1.08368
    //   b: 2 of 5, 0.4 + 0.28368 = 0.68368 (its bank record: on row 4 alone it would be 0 of 1)
    //   c: 0 of 5, 0.28368
    //   d: 1 of 1, 1 + 0.5 * sqrt(ln 5 / 1) = 1 + 0.63432 = 1.63432
    //   e: 0 of 1, 0.63432
    // Top 3 by reward: d, a, b. e is rejected, c dropped.
    ASSERT_EQ(bank.size(), 3u);
    EXPECT_EQ(bank[0].text, manners({"d"})[0]);  // accuracy 1
    EXPECT_EQ(bank[1].text, manners({"a"})[0]);  // 0.8
    EXPECT_EQ(bank[2].text, manners({"b"})[0]);  // 0.4
    EXPECT_NEAR(bank[0].reward, 1.63432, 1e-5);
    EXPECT_NEAR(bank[1].reward, 1.08368, 1e-5);
    EXPECT_EQ(bank[2].visits, 5);
    EXPECT_EQ(bank[2].correct, 2);
    EXPECT_EQ(bank[2].origin, "init:batch 1");
    EXPECT_EQ(bank[0].origin, "update:row 4");

    auto dup = events(run.engine, "duplicate");
    ASSERT_EQ(dup.size(), 1u);
    EXPECT_EQ(dup[0].text, manners({"b"})[0]);
    EXPECT_NEAR(dup[0].reward, 0.68368, 1e-5);
    auto rejected = events(run.engine, "rejected");
    ASSERT_EQ(rejected.size(), 1u);
    EXPECT_EQ(rejected[0].text, manners({"e"})[0]);
    EXPECT_NEAR(rejected[0].reward, 0.63432, 1e-5);
    auto dropped = events(run.engine, "dropped");
    ASSERT_EQ(dropped.size(), 1u);
    EXPECT_EQ(dropped[0].text, manners({"c"})[0]);
    EXPECT_EQ(dropped[0].row, 4);
    EXPECT_NEAR(dropped[0].reward, 0.28368, 1e-5);
    // b was not scored again: 3 * 4 + 3 (row 4) + 2 (d and e on row 4).
    EXPECT_EQ(run.scoring_calls(), 17);
}

TEST(HypoGenicLoop, OnlyBestKeepsTheBestRewardOfEachPrompt) {
    EngineOptions o = one_row_pool(4);
    o.only_best_hypothesis = true;
    o.update_hypotheses_per_batch = 3;
    Harness run({[](const std::vector<size_t>& shown) {
                     return shown.front() == 0 ? manners({"a"}) : manners({"x", "y", "z"});
                 },
                 [](const std::string& h, size_t row) {
                     return row < 4 ? has(h, "the a ") : has(h, "the y ");
                 }},
                o);
    auto bank = run.learn(pair_rows(5));
    // Row 4: a is wrong, 1 >= 1 * 4 / 5 * 0.8 = 0.64; of x, y, z only y is right on row 4.
    ASSERT_EQ(bank.size(), 2u);
    EXPECT_EQ(bank[0].text, manners({"y"})[0]);
    auto rejected = events(run.engine, "rejected");
    ASSERT_EQ(rejected.size(), 2u);
    EXPECT_EQ(rejected[0].reason, "not the best of its prompt");
}

TEST(HypoGenicLoop, DefaultsRegenerateAndReplaceWithinEightRows) {
    // Defaults except num_init 4 and H = 5 (with the default H = 20 the ten hypotheses all fit
    // and nothing is dropped). Initial hypotheses i1..i5 are right on rows 0-3 and wrong after;
    // hypotheses generated from later rows are always right.
    EngineOptions o = options(4);
    o.max_hypotheses = 5;
    Harness run({[](const std::vector<size_t>& shown) {
                     if (shown.front() == 0)
                         return manners({"i1", "i2", "i3", "i4", "i5"});
                     return manners({"u1", "u2", "u3", "u4", "u5"});
                 },
                 [](const std::string& h, size_t row) { return row < 4 || has(h, "the u"); }},
                o);
    auto bank = run.learn(pair_rows(8));
    // Row 4 (t = 5): 5 wrong >= 5 * 4 / 8 * 0.8 = 2.0, pool {4}.
    // Row 5 (t = 6): 5 wrong >= 2.5, pool {4, 5} is full (2 * 1): one prompt, u1..u5 scored on
    //   rows 4-5: 1 + 0.5 * sqrt(ln 6 / 2) = 1.47325, above every i (4 of 6 right:
    //   0.66667 + 0.5 * sqrt(ln 6 / 6) = 0.93990), so u1..u5 replace i1..i5.
    // Rows 6-7: u1..u5 are right, 0 wrong, no hard row.
    EXPECT_EQ(run.generations(), (std::vector<std::vector<size_t>>{{0, 1, 2, 3}, {4, 5}}));
    auto added = events(run.engine, "added");
    auto dropped = events(run.engine, "dropped");
    ASSERT_EQ(added.size(), 10u);  // five at initialisation, five at row 5
    EXPECT_EQ(added[5].row, 5);
    EXPECT_NEAR(added[5].reward, 1.47325, 1e-5);
    EXPECT_EQ(added[5].reason, "generated from hard rows 4, 5");
    ASSERT_EQ(dropped.size(), 5u);
    EXPECT_EQ(dropped[0].row, 5);
    EXPECT_NEAR(dropped[0].accuracy, 4.0 / 6.0, 1e-12);
    EXPECT_NEAR(dropped[0].reward, 0.93990, 1e-5);
    ASSERT_EQ(bank.size(), 5u);
    for (const auto& h : bank) {
        EXPECT_EQ(h.origin, "update:row 5");
        EXPECT_EQ(h.visits, 4);  // rows 4, 5, 6, 7
        EXPECT_DOUBLE_EQ(h.accuracy, 1.0);
    }
}

TEST(HypoGenicLoop, RejectsAnEmptyPool) {
    EngineOptions o = options(4);
    o.update_batch_size = 0;
    Harness run({[](const auto&) { return manners({"a"}); },
                 [](const std::string&, size_t) { return true; }},
                o);
    auto bank = run.engine.learn(pair_rows(8));
    ASSERT_FALSE(bank.ok());
    EXPECT_EQ(bank.error().code, ErrorCode::invalid_input);
    EXPECT_TRUE(run.backend.requests.empty());
}

}  // namespace
}  // namespace hyperalign::learn
