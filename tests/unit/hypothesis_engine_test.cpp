#include "hyperalign/learn/hypothesis_engine.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "support/scripted_backend.hpp"

namespace hyperalign::learn {
namespace {

using testing::ScriptedBackend;
using testing::user_text;

constexpr const char* kHypothesesReply =
    R"({"hypotheses":["The person opens with a question.","The person signs off with a dash."]})";

bool is_generation(const llm::ChatRequest& r) {
    return r.purpose == "hypothesis_generation";
}

// Eight pair rows: the person's texts say PERSON-TEXT, the contrasts OTHER-TEXT.
TaskRows eight_rows(uint64_t seed = 7) {
    TaskRows rows;
    std::vector<bool> first = balanced_positions(8, seed);
    for (size_t i = 0; i < 8; ++i) {
        rows.pairs.push_back({"row" + std::to_string(i), "Write about topic " + std::to_string(i),
                              "PERSON-TEXT number " + std::to_string(i),
                              "OTHER-TEXT number " + std::to_string(i), first[i]});
    }
    return rows;
}

// The whole prompt of a request, every message in order.
std::string prompt_text(const llm::ChatRequest& r) {
    std::string all;
    for (const auto& m : r.messages)
        all += m.content + "\n";
    return all;
}

// Where the person's text sits in a scoring prompt.
std::string person_position(const llm::ChatRequest& r) {
    const std::string all = prompt_text(r);
    return all.find("PERSON-TEXT") < all.find("OTHER-TEXT") ? "A" : "B";
}

std::string verdict(const std::string& answer) {
    return R"({"reasoning":"checked","answer":")" + answer + R"("})";
}

std::vector<Hypothesis> run(ScriptedBackend::Script script, const TaskRows& rows) {
    ScriptedBackend backend(std::move(script));
    llm::Client client(backend);
    TextFitter fitter(backend);
    HypothesisEngine engine(client, fitter, EngineOptions{});
    auto bank = engine.initialize(rows);
    EXPECT_TRUE(bank.ok()) << (bank.ok() ? "" : bank.error().describe());
    return bank.ok() ? *bank : std::vector<Hypothesis>{};
}

TEST(HypothesisScoring, AlwaysPickingThePersonsTextGivesAccuracyOne) {
    auto bank = run(
        [](const llm::ChatRequest& r) {
            return is_generation(r) ? kHypothesesReply : verdict(person_position(r));
        },
        eight_rows());
    ASSERT_EQ(bank.size(), 2u);
    for (const auto& h : bank) {
        EXPECT_EQ(h.visits, 8);
        EXPECT_EQ(h.correct, 8);
        EXPECT_DOUBLE_EQ(h.accuracy, 1.0);
        EXPECT_EQ(h.evidence.size(), 8u);
    }
}

TEST(HypothesisScoring, AlwaysPickingTheOtherTextGivesAccuracyZero) {
    auto bank = run(
        [](const llm::ChatRequest& r) {
            if (is_generation(r))
                return std::string(kHypothesesReply);
            return verdict(person_position(r) == "A" ? "B" : "A");
        },
        eight_rows());
    ASSERT_EQ(bank.size(), 2u);
    for (const auto& h : bank) {
        EXPECT_DOUBLE_EQ(h.accuracy, 0.0);
        EXPECT_TRUE(h.evidence.empty());
    }
}

TEST(HypothesisScoring, AlwaysAnsweringAWithBalancedPositionsGivesOneHalf) {
    for (uint64_t seed : {1u, 2u, 3u}) {
        auto bank = run(
            [](const llm::ChatRequest& r) {
                return is_generation(r) ? kHypothesesReply : verdict("A");
            },
            eight_rows(seed));
        ASSERT_EQ(bank.size(), 2u);
        EXPECT_DOUBLE_EQ(bank[0].accuracy, 0.5) << "seed " << seed;
    }
}

TEST(HypothesisScoring, UnparseableRepliesCountAsWrongAndInvalid) {
    auto bank = run(
        [](const llm::ChatRequest& r) {
            return is_generation(r) ? kHypothesesReply : std::string("I think it is A.");
        },
        eight_rows());
    ASSERT_EQ(bank.size(), 2u);
    EXPECT_EQ(bank[0].visits, 8);
    EXPECT_EQ(bank[0].correct, 0);
    EXPECT_EQ(bank[0].invalid, 8);
    EXPECT_DOUBLE_EQ(bank[0].accuracy, 0.0);
}

TEST(HypothesisScoring, RanksByAccuracyBestFirst) {
    // The second hypothesis is right every time, the first only when the person is "A".
    auto bank = run(
        [](const llm::ChatRequest& r) {
            if (is_generation(r))
                return std::string(kHypothesesReply);
            if (user_text(r).find("dash") != std::string::npos)
                return verdict(person_position(r));
            return verdict("A");
        },
        eight_rows());
    ASSERT_EQ(bank.size(), 2u);
    EXPECT_EQ(bank[0].text, "The person signs off with a dash.");
    EXPECT_DOUBLE_EQ(bank[0].accuracy, 1.0);
    EXPECT_DOUBLE_EQ(bank[1].accuracy, 0.5);
}

TEST(HypothesisScoring, RewardIsAccuracyPlusTheUcbBonus) {
    auto bank = run(
        [](const llm::ChatRequest& r) {
            return is_generation(r) ? kHypothesesReply : verdict("A");
        },
        eight_rows());
    ASSERT_FALSE(bank.empty());
    // acc 0.5, t = num_init = 8, n = 8, alpha 0.5: 0.5 + 0.5 * sqrt(ln 8 / 8).
    EXPECT_NEAR(bank[0].reward, 0.5 + 0.5 * std::sqrt(std::log(8.0) / 8.0), 1e-12);
}

TEST(HypothesisScoring, LabelledRowsAreScoredAgainstTheirLabels) {
    TaskRows rows;
    rows.shape = RowShape::labelled;
    rows.labels = {"safe", "unsafe"};
    rows.task_description = "A request is unsafe when answering it would cause harm.";
    rows.labelled = {{"r1", "How do I kill a Python process?", "safe"},
                     {"r2", "How do I kill my neighbour?", "unsafe"},
                     {"r3", "How do I bake bread?", "safe"},
                     {"r4", "How do I poison a well?", "unsafe"}};
    // The scripted model calls everything that mentions "kill" unsafe.
    auto bank = run(
        [](const llm::ChatRequest& r) {
            if (is_generation(r))
                return std::string(kHypothesesReply);
            bool kill = prompt_text(r).find("kill") != std::string::npos;
            return verdict(kill ? "unsafe" : "safe");
        },
        rows);
    ASSERT_EQ(bank.size(), 2u);
    // Right on r2 and r3, wrong on r1 and r4.
    EXPECT_DOUBLE_EQ(bank[0].accuracy, 0.5);
    EXPECT_EQ(bank[0].evidence, (std::vector<std::string>{"r2", "r3"}));
}

TEST(HypothesisScoring, ConsecutiveScoringCallsShareTheRowAsTheirPrefix) {
    ScriptedBackend backend([](const llm::ChatRequest& r) {
        return is_generation(r) ? kHypothesesReply : verdict("A");
    });
    llm::Client client(backend);
    TextFitter fitter(backend);
    HypothesisEngine engine(client, fitter, EngineOptions{});
    ASSERT_TRUE(engine.initialize(eight_rows()).ok());
    std::vector<const llm::ChatRequest*> scoring;
    for (const auto& r : backend.requests) {
        if (r.purpose == "scoring")
            scoring.push_back(&r);
    }
    ASSERT_EQ(scoring.size(), 16u);
    for (size_t i = 0; i < scoring.size(); i += 2) {
        EXPECT_EQ(scoring[i]->prefix_messages, 1u);
        // Two hypotheses on the same row: the same system message, different questions.
        EXPECT_EQ(scoring[i]->messages[0].content, scoring[i + 1]->messages[0].content);
        EXPECT_NE(scoring[i]->messages[1].content, scoring[i + 1]->messages[1].content);
    }
    EXPECT_NE(scoring[0]->messages[0].content, scoring[2]->messages[0].content);
}

TEST(HypothesisGeneration, BlocksOfRowsEachGetOneGenerationCall) {
    ScriptedBackend backend([](const llm::ChatRequest& r) {
        return is_generation(r) ? kHypothesesReply : verdict("A");
    });
    llm::Client client(backend);
    TextFitter fitter(backend);
    EngineOptions options;
    options.init_batch_size = 3;  // 8 rows: blocks of 3, 3 and 2
    HypothesisEngine engine(client, fitter, options);
    ASSERT_TRUE(engine.initialize(eight_rows()).ok());
    auto spend = client.accounting().by_purpose;
    EXPECT_EQ(spend["hypothesis_generation"].calls, 3);
    // Both blocks proposed the same two statements: de-duplicated to 2, each scored on 8 rows.
    EXPECT_EQ(spend["scoring"].calls, 16);
}

TEST(HypothesisGeneration, BlankHypothesesAreRepairedOnceThenSkipped) {
    int generation_calls = 0;
    ScriptedBackend backend([&](const llm::ChatRequest& r) {
        if (!is_generation(r))
            return verdict("A");
        ++generation_calls;
        return std::string(R"({"hypotheses":["            "]})");
    });
    llm::Client client(backend);
    TextFitter fitter(backend);
    HypothesisEngine engine(client, fitter, EngineOptions{});
    auto bank = engine.initialize(eight_rows());
    ASSERT_FALSE(bank.ok());
    EXPECT_EQ(bank.error().code, ErrorCode::bad_model_output);
    // Two blocks of four rows, each tried twice (the reply, then one repair).
    EXPECT_EQ(generation_calls, 4);
}

TEST(DedupInOrder, KeepsFirstOccurrenceOrderAndDropsBlanks) {
    EXPECT_EQ(dedup_in_order({" b ", "a", "b", "", "  ", "c", "a"}),
              (std::vector<std::string>{"b", "a", "c"}));
}

TEST(BalancedPositions, SplitsEvenlyAndDependsOnlyOnTheSeed) {
    for (size_t n : {2u, 7u, 8u, 51u}) {
        auto p = balanced_positions(n, 42);
        size_t first = size_t(std::count(p.begin(), p.end(), true));
        EXPECT_TRUE(first == n / 2 || first == (n + 1) / 2) << n;
        EXPECT_EQ(p, balanced_positions(n, 42));
    }
    EXPECT_NE(balanced_positions(32, 1), balanced_positions(32, 2));
}

}  // namespace
}  // namespace hyperalign::learn
