#include <gtest/gtest.h>

#include "hyperalign/generate/generator.hpp"
#include "support/scripted_backend.hpp"

namespace hyperalign::generate {
namespace {

constexpr const char* kTask = "Write an email about the picnic.";

// Seven hypotheses stored out of accuracy order: "H<k>" has the k-th best accuracy.
Profile ranked_profile() {
    Profile p;
    p.person = "sam";
    p.attributes.writing_style = {"Short sentences."};
    for (int k : {3, 1, 7, 2, 5, 4, 6}) {
        Hypothesis h;
        h.text = "H" + std::to_string(k);
        h.accuracy = 1.0 - 0.1 * k;
        p.hypotheses.push_back(h);
    }
    return p;
}

std::vector<std::string> texts(const std::vector<Hypothesis>& hypotheses) {
    std::vector<std::string> out;
    for (const auto& h : hypotheses)
        out.push_back(h.text);
    return out;
}

// A model that answers the selection call with `reply` and writes "Done." otherwise.
testing::ScriptedBackend::Script selecting(std::string reply) {
    return [reply](const llm::ChatRequest& r) {
        return r.purpose == "selection" ? reply : std::string("Done.");
    };
}

GenerateOptions relevance(int top, int pool = 10) {
    GenerateOptions o;
    o.selection = Selection::relevance;
    o.top_hypotheses = top;
    o.relevance_pool = pool;
    return o;
}

TEST(Select, RelevanceKeepsExactlyTheNamedHypothesesInAccuracyOrder) {
    testing::ScriptedBackend backend(selecting(R"({"relevant": [6, 2, 4]})"));
    llm::Client client(backend);
    auto chosen = select_hypotheses(client, ranked_profile(), relevance(5), kTask);
    ASSERT_TRUE(chosen.ok()) << chosen.error().describe();
    EXPECT_EQ(texts(*chosen), (std::vector<std::string>{"H2", "H4", "H6"}));

    ASSERT_EQ(backend.requests.size(), 1u);
    const auto& request = backend.requests[0];
    EXPECT_EQ(request.purpose, "selection");
    EXPECT_EQ(request.person, "sam");
    EXPECT_FALSE(request.json_schema.empty());
    // The pool is numbered in accuracy order and the task is shown.
    EXPECT_NE(request.messages[0].content.find("1. H1\n2. H2\n"), std::string::npos);
    EXPECT_NE(testing::user_text(request).find(kTask), std::string::npos);
    EXPECT_EQ(client.accounting().by_purpose["selection"].calls, 1);
}

TEST(Select, RelevanceIsCappedAtTopHypotheses) {
    testing::ScriptedBackend backend(selecting(R"({"relevant": [7, 5, 3, 1, 2]})"));
    llm::Client client(backend);
    auto chosen = select_hypotheses(client, ranked_profile(), relevance(3), kTask);
    ASSERT_TRUE(chosen.ok());
    EXPECT_EQ(texts(*chosen), (std::vector<std::string>{"H1", "H2", "H3"}));
}

TEST(Select, RelevanceShowsOnlyThePoolAndBoundsTheNumbersToIt) {
    testing::ScriptedBackend backend(selecting(R"({"relevant": [4]})"));
    llm::Client client(backend);
    auto chosen = select_hypotheses(client, ranked_profile(), relevance(5, 3), kTask);
    ASSERT_TRUE(chosen.ok());
    // 4 is outside a pool of 3: rejected, repaired once, still unusable, so the top 5.
    EXPECT_EQ(backend.requests.size(), 2u);
    EXPECT_EQ(texts(*chosen), (std::vector<std::string>{"H1", "H2", "H3", "H4", "H5"}));
    const std::string& system = backend.requests[0].messages[0].content;
    EXPECT_NE(system.find("3. H3"), std::string::npos);
    EXPECT_EQ(system.find("H4"), std::string::npos);
}

TEST(Select, AnUnusableReplyFallsBackToTopNAfterOneRepair) {
    testing::ScriptedBackend backend(selecting("H2 and H4, I think."));
    llm::Client client(backend);
    auto chosen = select_hypotheses(client, ranked_profile(), relevance(4), kTask);
    ASSERT_TRUE(chosen.ok());
    EXPECT_EQ(backend.requests.size(), 2u);
    EXPECT_EQ(texts(*chosen), (std::vector<std::string>{"H1", "H2", "H3", "H4"}));
}

TEST(Select, NoRelevantHypothesisFallsBackToTopN) {
    testing::ScriptedBackend backend(selecting(R"({"relevant": []})"));
    llm::Client client(backend);
    auto chosen = select_hypotheses(client, ranked_profile(), relevance(2), kTask);
    ASSERT_TRUE(chosen.ok());
    EXPECT_EQ(backend.requests.size(), 1u);
    EXPECT_EQ(texts(*chosen), (std::vector<std::string>{"H1", "H2"}));
}

TEST(Select, TopAccuracyMakesNoExtraCall) {
    testing::ScriptedBackend backend(selecting(R"({"relevant": [1]})"));
    llm::Client client(backend);
    GenerateOptions o;
    o.top_hypotheses = 3;
    auto reply = write(client, ranked_profile(), o, kTask);
    ASSERT_TRUE(reply.ok());
    ASSERT_EQ(backend.requests.size(), 1u);
    EXPECT_EQ(backend.requests[0].purpose, "generation");
    const std::string& system = backend.requests[0].messages[0].content;
    EXPECT_NE(system.find("1. H1\n2. H2\n3. H3\n"), std::string::npos);
    EXPECT_EQ(system.find("H4"), std::string::npos);
}

TEST(Select, WriteWithRelevanceShowsTheChosenHypotheses) {
    testing::ScriptedBackend backend(selecting(R"({"relevant": [5, 3]})"));
    llm::Client client(backend);
    auto reply = write(client, ranked_profile(), relevance(5), kTask);
    ASSERT_TRUE(reply.ok());
    ASSERT_EQ(backend.requests.size(), 2u);
    EXPECT_EQ(backend.requests[0].purpose, "selection");
    EXPECT_EQ(backend.requests[1].purpose, "generation");
    const std::string& system = backend.requests[1].messages[0].content;
    EXPECT_NE(system.find("1. H3\n2. H5\n"), std::string::npos);
    EXPECT_EQ(system.find("H1"), std::string::npos);
}

TEST(Select, MethodsWithoutHypothesesMakeNoSelectionCall) {
    testing::ScriptedBackend backend(selecting(R"({"relevant": [1]})"));
    llm::Client client(backend);
    GenerateOptions o = relevance(5);
    o.method = Method::attributes;
    ASSERT_TRUE(write(client, ranked_profile(), o, kTask).ok());
    ASSERT_EQ(backend.requests.size(), 1u);
    EXPECT_EQ(backend.requests[0].purpose, "generation");
}

TEST(Select, PinnedHypothesesStayWithoutBeingJudged) {
    Profile p = ranked_profile();
    p.hypotheses[2].pinned = true;  // H7, the least accurate
    testing::ScriptedBackend backend(selecting(R"({"relevant": [3, 1]})"));
    llm::Client client(backend);
    auto chosen = select_hypotheses(client, p, relevance(2), kTask);
    ASSERT_TRUE(chosen.ok());
    // H7 takes one of the two places; the model's first pick in accuracy order takes the other.
    EXPECT_EQ(texts(*chosen), (std::vector<std::string>{"H7", "H1"}));
    ASSERT_EQ(backend.requests.size(), 1u);
    EXPECT_EQ(backend.requests[0].messages[0].content.find("H7"), std::string::npos);
}

TEST(Select, PinnedHypothesesStayWhenTheFallbackIsTaken) {
    Profile p = ranked_profile();
    p.hypotheses[2].pinned = true;
    testing::ScriptedBackend backend(selecting(R"({"relevant": []})"));
    llm::Client client(backend);
    auto chosen = select_hypotheses(client, p, relevance(3), kTask);
    ASSERT_TRUE(chosen.ok());
    EXPECT_EQ(texts(*chosen), (std::vector<std::string>{"H7", "H1", "H2"}));
}

TEST(Select, NoCallWhenThePinnedFillTheTop) {
    Profile p = ranked_profile();
    p.hypotheses[2].pinned = true;
    p.hypotheses[4].pinned = true;  // H5
    testing::ScriptedBackend backend(selecting(R"({"relevant": [1]})"));
    llm::Client client(backend);
    auto chosen = select_hypotheses(client, p, relevance(1), kTask);
    ASSERT_TRUE(chosen.ok());
    EXPECT_TRUE(backend.requests.empty());
    EXPECT_EQ(texts(*chosen), (std::vector<std::string>{"H5", "H7"}));
}

TEST(Select, RejectsAPoolOutsideOneToAHundred) {
    testing::ScriptedBackend backend(selecting(R"({"relevant": [1]})"));
    llm::Client client(backend);
    for (int pool : {0, 101}) {
        auto chosen = select_hypotheses(client, ranked_profile(), relevance(5, pool), kTask);
        ASSERT_FALSE(chosen.ok());
        EXPECT_EQ(chosen.error().code, ErrorCode::invalid_input);
    }
    EXPECT_TRUE(backend.requests.empty());
}

TEST(Select, ComposeWithoutAChoiceRejectsRelevance) {
    auto r = compose(ranked_profile(), relevance(5), kTask);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::invalid_input);
}

TEST(Select, ParsesItsNames) {
    EXPECT_EQ(*parse_selection("top"), Selection::top_accuracy);
    EXPECT_EQ(*parse_selection("relevance"), Selection::relevance);
    EXPECT_EQ(to_string(Selection::relevance), "relevance");
    EXPECT_FALSE(parse_selection("accuracy").ok());
}

}  // namespace
}  // namespace hyperalign::generate
