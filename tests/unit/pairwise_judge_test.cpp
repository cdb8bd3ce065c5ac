#include "hyperalign/eval/pairwise_judge.hpp"

#include <gtest/gtest.h>

#include "support/scripted_backend.hpp"

namespace hyperalign::eval {
namespace {

using testing::ScriptedBackend;
using testing::user_text;

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

TEST(ParseVerdict, ReadsTheJsonReply) {
    EXPECT_EQ(parse_verdict(R"({"winner":"A"})"), Verdict::a);
    EXPECT_EQ(parse_verdict(R"({"winner": "b"})"), Verdict::b);
    EXPECT_EQ(parse_verdict(" \n{ \"winner\" : \" B \" }\n"), Verdict::b);
    EXPECT_EQ(parse_verdict("```json\n{\"winner\":\"A\"}\n```"), Verdict::a);
}

TEST(ParseVerdict, ReadsABareLetter) {
    EXPECT_EQ(parse_verdict("A"), Verdict::a);
    EXPECT_EQ(parse_verdict("B."), Verdict::b);
    EXPECT_EQ(parse_verdict("\"A\""), Verdict::a);
    EXPECT_EQ(parse_verdict("\xE2\x80\x9C"
                            "B"
                            "\xE2\x80\x9D"),
              Verdict::b);  // typographic quotes
    EXPECT_EQ(parse_verdict("(B)"), Verdict::b);
    EXPECT_EQ(parse_verdict("Answer: B"), Verdict::b);
    EXPECT_EQ(parse_verdict("answer: candidate A"), Verdict::a);
    EXPECT_EQ(parse_verdict("**A** is closer to the author's habits."), Verdict::a);
    EXPECT_EQ(parse_verdict("  b\n"), Verdict::b);
    EXPECT_EQ(parse_verdict("Answer: a"), Verdict::a);
}

TEST(ParseVerdict, RejectsAnythingElse) {
    for (const char* reply :
         {"", "   ", "C", "AB", "A/B", "a text like the author's", "The answer is A", "Both",
          "Answer:", R"({"winner":"C"})", R"({"winner":1})", R"({"winner":"A")",
          R"({"answer":"A"})", R"({"winner":"AB"})", "{}", "\xFF\xFE", "```\n"}) {
        EXPECT_EQ(parse_verdict(reply), Verdict::invalid) << reply;
    }
}

// Pairs whose method and baseline texts differ, so a script can tell which one is where.
struct Pair {
    std::string method;
    std::string baseline;
};

std::vector<Pair> sample_pairs() {
    std::vector<Pair> pairs;
    for (int i = 0; i < 4; ++i) {
        pairs.push_back({"Method text " + std::to_string(i) + ": short lines, dashes - and cheer!",
                         "Baseline text " + std::to_string(i) + ": a measured, formal answer."});
    }
    return pairs;
}

PairInput input_for(const Pair& p) {
    PairInput in;
    in.person = "sam";
    in.references = {"Lunch at noon - be there!", "Seminar moved - 3pm!"};
    in.gold = "Picnic on Friday - bring a hat!";
    in.task = "Write an email about the picnic.";
    in.candidate_a = p.method;
    in.candidate_b = p.baseline;
    return in;
}

// True when the prompt shows one of the method's texts before (that is, as A) the baseline's.
bool method_shown_as_a(const llm::ChatRequest& r) {
    const std::string& prompt = user_text(r);
    const size_t method = prompt.find("Method text ");
    const size_t baseline = prompt.find("Baseline text ");
    EXPECT_NE(method, std::string::npos);
    EXPECT_NE(baseline, std::string::npos);
    return method < baseline;
}

std::string winner(bool a) {
    return a ? R"({"winner":"A"})" : R"({"winner":"B"})";
}

// A judge that always answers A (or always B).
struct FixedJudge {
    explicit FixedJudge(bool picks_a) : backend(always(picks_a)) {}
    FixedJudge(bool picks_a, int context) : backend(always(picks_a), context) {}

    static ScriptedBackend::Script always(bool picks_a) {
        return [picks_a](const llm::ChatRequest&) { return winner(picks_a); };
    }

    ScriptedBackend backend;
    llm::Client client{backend};
};

Tally judge_all(ScriptedBackend::Script script, std::vector<PairResult>* results = nullptr) {
    ScriptedBackend backend(std::move(script));
    llm::Client client(backend);
    Tally tally;
    for (const Pair& p : sample_pairs()) {
        auto r = judge_both_orders(client, input_for(p), JudgeOptions{});
        EXPECT_TRUE(r.ok()) << r.error().describe();
        if (!r.ok())
            continue;
        tally.add(r->outcome);
        if (results != nullptr)
            results->push_back(*r);
    }
    return tally;
}

TEST(JudgeBothOrders, AJudgeThatPrefersTheMethodGivesAWinRateOfOne) {
    std::vector<PairResult> results;
    Tally t =
        judge_all([](const llm::ChatRequest& r) { return winner(method_shown_as_a(r)); }, &results);
    EXPECT_EQ(t.wins, 4);
    EXPECT_EQ(t.n(), 4);
    EXPECT_EQ(t.win_rate(), 1.0);
    ASSERT_EQ(results.size(), 4u);
    EXPECT_EQ(results[0].method_as_a.verdict, Verdict::a);
    EXPECT_EQ(results[0].method_as_a.raw, R"({"winner":"A"})");
    EXPECT_EQ(results[0].method_as_b.verdict, Verdict::b);
    EXPECT_EQ(results[0].method_as_b.raw, R"({"winner":"B"})");
}

TEST(JudgeBothOrders, AJudgeThatPrefersTheBaselineGivesAWinRateOfZero) {
    Tally t = judge_all([](const llm::ChatRequest& r) { return winner(!method_shown_as_a(r)); });
    EXPECT_EQ(t.losses, 4);
    EXPECT_EQ(t.n(), 4);
    EXPECT_EQ(t.win_rate(), 0.0);
}

TEST(JudgeBothOrders, AJudgeThatAlwaysSaysAGivesOnlyTies) {
    std::vector<PairResult> results;
    Tally t = judge_all([](const llm::ChatRequest&) { return winner(true); }, &results);
    EXPECT_EQ(t.ties, 4);
    EXPECT_EQ(t.n(), 4);
    EXPECT_EQ(t.win_rate(), 0.5);
    for (const auto& r : results) {
        EXPECT_EQ(r.method_as_a.verdict, Verdict::a);
        EXPECT_EQ(r.method_as_b.verdict, Verdict::a);
    }
}

TEST(JudgeBothOrders, GarbageRepliesAreInvalidVerdictsAndTiesNotErrors) {
    ScriptedBackend backend([](const llm::ChatRequest&) { return "I cannot tell."; });
    llm::Client client(backend);
    auto r = judge_both_orders(client, input_for(sample_pairs()[0]), JudgeOptions{});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->outcome, Outcome::tie);
    EXPECT_EQ(r->method_as_a.verdict, Verdict::invalid);
    EXPECT_EQ(r->method_as_b.verdict, Verdict::invalid);
    EXPECT_FALSE(r->method_as_a.raw.empty());
    // Each judgement was asked once more with the error before it counted as invalid.
    EXPECT_EQ(backend.requests.size(), 4u);
    EXPECT_EQ(client.accounting().by_purpose.at("judge").calls, 4);
}

TEST(JudgeBothOrders, ReturnsBudgetErrors) {
    ScriptedBackend backend([](const llm::ChatRequest&) { return winner(true); });
    llm::Client client(backend, {.max_calls = 1});
    auto r = judge_both_orders(client, input_for(sample_pairs()[0]), JudgeOptions{});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::budget_exceeded);
}

TEST(JudgePair, SendsAStructuredGreedyRequestForThePerson) {
    FixedJudge judge(false);
    PairInput in = input_for(sample_pairs()[1]);
    auto r = judge_pair(judge.client, in, JudgeOptions{});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->verdict, Verdict::b);
    ASSERT_EQ(judge.backend.requests.size(), 1u);
    const llm::ChatRequest& req = judge.backend.requests[0];
    EXPECT_EQ(req.purpose, "judge");
    EXPECT_EQ(req.person, "sam");
    EXPECT_EQ(req.sampling.temperature, 0.0f);
    EXPECT_FALSE(req.json_schema.empty());
    ASSERT_EQ(req.messages.size(), 2u);
    EXPECT_EQ(req.prefix_messages, 1u);
    // The references open the prompt; the task and both candidates follow, A before B.
    EXPECT_TRUE(contains(req.messages[0].content, "Lunch at noon - be there!"));
    EXPECT_TRUE(contains(req.messages[0].content, "Seminar moved - 3pm!"));
    const std::string& user = req.messages[1].content;
    EXPECT_TRUE(contains(user, in.task));
    EXPECT_LT(user.find(in.candidate_a), user.find(in.candidate_b));
    EXPECT_FALSE(contains(user, in.gold));
}

TEST(JudgePair, ShowsTheGoldTextOnlyWhenAsked) {
    FixedJudge judge(true);
    JudgeOptions options;
    options.with_gold = true;
    PairInput in = input_for(sample_pairs()[0]);
    ASSERT_TRUE(judge_pair(judge.client, in, options).ok());
    EXPECT_TRUE(contains(user_text(judge.backend.requests[0]), in.gold));

    in.gold.clear();
    auto missing = judge_pair(judge.client, in, options);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ErrorCode::invalid_input);
}

TEST(JudgePair, NeedsSomethingToCompareWith) {
    FixedJudge judge(true);
    PairInput in = input_for(sample_pairs()[0]);
    in.references = {"", "  \n"};
    auto r = judge_pair(judge.client, in, JudgeOptions{});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::invalid_input);
    EXPECT_TRUE(judge.backend.requests.empty());
}

TEST(JudgePair, ShowsAtMostMaxReferences) {
    FixedJudge judge(true);
    PairInput in = input_for(sample_pairs()[0]);
    in.references.clear();
    for (int i = 1; i <= 7; ++i)
        in.references.push_back("Reference number " + std::to_string(i) + " by the author.");
    JudgeOptions options;
    options.max_references = 5;
    ASSERT_TRUE(judge_pair(judge.client, in, options).ok());
    const std::string& system = judge.backend.requests[0].messages[0].content;
    EXPECT_TRUE(contains(system, "Reference number 5 "));
    EXPECT_FALSE(contains(system, "Reference number 6 "));

    options.max_references = 0;
    ASSERT_TRUE(judge_pair(judge.client, in, options).ok());
    EXPECT_TRUE(contains(judge.backend.requests[1].messages[0].content, "Reference number 7 "));
}

constexpr int kSmallContext = 1024;

// The one request judge_pair sends for `in` to a backend of kSmallContext tokens, checked to fit
// as the scripted backend counts tokens (a token per 4 bytes, plus the reply allowance).
llm::ChatRequest sent_in_small_context(const PairInput& in) {
    FixedJudge judge(true, kSmallContext);
    auto r = judge_pair(judge.client, in, JudgeOptions{});
    EXPECT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(judge.backend.requests.size(), 1u);
    if (judge.backend.requests.empty())
        return {};
    const llm::ChatRequest& req = judge.backend.requests[0];
    int64_t tokens = req.sampling.max_tokens;
    for (const auto& m : req.messages)
        tokens += int64_t(m.content.size() + 3) / 4;
    EXPECT_LE(tokens, kSmallContext);
    return req;
}

std::string long_text(const std::string& word, size_t sentences) {
    std::string out;
    for (size_t i = 0; i < sentences; ++i)
        out += "The " + word + " sentence number " + std::to_string(i) + " goes on a while. ";
    return out;
}

TEST(JudgePair, CutsTheReferencesToTheContextAndKeepsTheCandidatesWhole) {
    PairInput in = input_for(sample_pairs()[0]);
    in.references.clear();
    for (int i = 0; i < 5; ++i)
        in.references.push_back(long_text("reference" + std::to_string(i), 60));  // ~900 tokens
    in.candidate_a = long_text("method", 8);
    in.candidate_b = long_text("baseline", 8);

    const llm::ChatRequest req = sent_in_small_context(in);
    ASSERT_EQ(req.messages.size(), 2u);
    const std::string& system = req.messages[0].content;
    for (int i = 0; i < 5; ++i)
        EXPECT_TRUE(contains(system, "The reference" + std::to_string(i) + " sentence number 0"));
    EXPECT_TRUE(contains(system, " [...]"));
    EXPECT_TRUE(contains(req.messages[1].content, in.candidate_a));
    EXPECT_TRUE(contains(req.messages[1].content, in.candidate_b));
}

TEST(JudgePair, CutsCandidatesThatCannotFitWhole) {
    PairInput in = input_for(sample_pairs()[0]);
    in.candidate_a = long_text("method", 60);
    in.candidate_b = long_text("baseline", 60);

    const llm::ChatRequest req = sent_in_small_context(in);
    ASSERT_EQ(req.messages.size(), 2u);
    const std::string& user = req.messages[1].content;
    EXPECT_TRUE(contains(user, "The method sentence number 0"));
    EXPECT_TRUE(contains(user, "The baseline sentence number 0"));
    EXPECT_FALSE(contains(user, in.candidate_a));
    // The short references still fit whole.
    EXPECT_TRUE(contains(req.messages[0].content, "Seminar moved - 3pm!"));
}

}  // namespace
}  // namespace hyperalign::eval
