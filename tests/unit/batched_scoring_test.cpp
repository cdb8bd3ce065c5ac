#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <regex>
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

constexpr const char* kQuestion = "The person opens with a question.";
constexpr const char* kDash = "The person signs off with a dash.";
constexpr const char* kShort = "The person writes in short sentences.";

std::string three_hypotheses() {
    return nlohmann::json{{"hypotheses", {kQuestion, kDash, kShort}}}.dump();
}

bool is_generation(const llm::ChatRequest& r) {
    return r.purpose == "hypothesis_generation";
}

bool is_batch(const llm::ChatRequest& r) {
    return r.json_schema.find("\"predictions\"") != std::string::npos;
}

// Eight pair rows: the person's texts say PERSON-TEXT, the contrasts OTHER-TEXT.
TaskRows eight_rows() {
    TaskRows rows;
    std::vector<bool> first = balanced_positions(8, 7);
    for (size_t i = 0; i < 8; ++i) {
        rows.pairs.push_back({"row" + std::to_string(i), "Write about topic " + std::to_string(i),
                              "PERSON-TEXT number " + std::to_string(i),
                              "OTHER-TEXT number " + std::to_string(i), first[i]});
    }
    return rows;
}

// Where the person's text sits in a scoring prompt, and the other position.
std::string person_position(const llm::ChatRequest& r) {
    const std::string& system = r.messages.front().content;
    return system.find("PERSON-TEXT") < system.find("OTHER-TEXT") ? "A" : "B";
}

std::string other_position(const llm::ChatRequest& r) {
    return person_position(r) == "A" ? "B" : "A";
}

// The numbered hypotheses of a batch prompt ("1. text" lines), in order.
std::vector<std::string> listed(const llm::ChatRequest& r) {
    static const std::regex line(R"((?:^|\n)(\d+)\. ([^\n]*))");
    const std::string& user = user_text(r);
    std::vector<std::string> out;
    for (std::sregex_iterator it(user.begin(), user.end(), line), end; it != end; ++it) {
        EXPECT_EQ(std::stoul((*it)[1]), out.size() + 1);
        out.push_back((*it)[2]);
    }
    return out;
}

// A batch reply from (number, answer) pairs, in the order given.
std::string batch_reply(const std::vector<std::pair<int, std::string>>& predictions) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [k, answer] : predictions)
        list.push_back({{"hypothesis", k}, {"answer", answer}});
    return nlohmann::json{{"predictions", list}}.dump();
}

std::string single_reply(const std::string& answer) {
    return R"({"reasoning":"checked","answer":")" + answer + R"("})";
}

// A judge that is right exactly when `right(hypothesis)` holds, in either prompt form; batch
// replies list the hypotheses last to first, so only their numbers tie them to the prompt.
ScriptedBackend::Script judge(std::function<bool(const std::string&)> right) {
    return [right](const llm::ChatRequest& r) {
        if (is_generation(r))
            return three_hypotheses();
        if (!is_batch(r)) {
            const std::string& user = user_text(r);
            for (const char* h : {kQuestion, kDash, kShort}) {
                if (user.find(h) != std::string::npos)
                    return single_reply(right(h) ? person_position(r) : other_position(r));
            }
            return single_reply("A");
        }
        const std::vector<std::string> hs = listed(r);
        std::vector<std::pair<int, std::string>> predictions;
        for (size_t k = hs.size(); k-- > 0;)
            predictions.push_back(
                {int(k + 1), right(hs[k]) ? person_position(r) : other_position(r)});
        return batch_reply(predictions);
    };
}

struct Outcome {
    std::vector<Hypothesis> bank;
    std::vector<llm::ChatRequest> scoring;  // the scoring requests, in order
    llm::CallStats spend;                   // of the scoring calls
};

Outcome run(ScriptedBackend::Script script, int scoring_batch, const TaskRows& rows = eight_rows(),
            bool online = false) {
    ScriptedBackend backend(std::move(script));
    llm::Client client(backend);
    TextFitter fitter(backend);
    EngineOptions options;
    options.scoring_batch = scoring_batch;
    if (online) {
        options.num_init = 4;
        options.k = 2;
    }
    HypothesisEngine engine(client, fitter, options);
    auto bank = online ? engine.learn(rows) : engine.initialize(rows);
    EXPECT_TRUE(bank.ok()) << (bank.ok() ? "" : bank.error().describe());
    Outcome out;
    if (bank.ok())
        out.bank = *bank;
    for (const auto& r : backend.requests) {
        if (r.purpose == "scoring")
            out.scoring.push_back(r);
    }
    out.spend = client.accounting().by_purpose["scoring"];
    return out;
}

const Hypothesis& find(const std::vector<Hypothesis>& bank, const std::string& text) {
    auto it =
        std::find_if(bank.begin(), bank.end(), [&](const Hypothesis& h) { return h.text == text; });
    EXPECT_NE(it, bank.end()) << text;
    return *it;
}

TEST(BatchedScoring, ABatchOfThreeTakesOneCallPerRowInsteadOfThree) {
    auto always_right = [](const std::string&) { return true; };
    Outcome single = run(judge(always_right), 1);
    Outcome batched = run(judge(always_right), 3);
    EXPECT_EQ(single.spend.calls, 24);
    EXPECT_EQ(batched.spend.calls, 8);
    ASSERT_EQ(batched.bank.size(), 3u);
    for (const auto& h : batched.bank) {
        EXPECT_EQ(h.visits, 8);
        EXPECT_EQ(h.correct, 8);
        EXPECT_EQ(h.invalid, 0);
    }
    // Each call lists the whole bank and keeps the row's texts in its shared system message.
    for (const auto& r : batched.scoring) {
        EXPECT_EQ(listed(r), (std::vector<std::string>{kQuestion, kDash, kShort}));
        EXPECT_EQ(r.prefix_messages, 1u);
        EXPECT_NE(r.messages.front().content.find("PERSON-TEXT"), std::string::npos);
        EXPECT_EQ(user_text(r).find("PERSON-TEXT"), std::string::npos);
    }
}

TEST(BatchedScoring, VerdictsGoToTheHypothesesTheirNumbersName) {
    // Right only for hypothesis 2, whose prediction comes first in every reply.
    Outcome batched = run(
        [](const llm::ChatRequest& r) {
            if (is_generation(r))
                return three_hypotheses();
            return batch_reply(
                {{2, person_position(r)}, {3, other_position(r)}, {1, other_position(r)}});
        },
        3);
    ASSERT_EQ(batched.bank.size(), 3u);
    EXPECT_DOUBLE_EQ(find(batched.bank, kDash).accuracy, 1.0);
    EXPECT_EQ(find(batched.bank, kDash).evidence.size(), 8u);
    EXPECT_DOUBLE_EQ(find(batched.bank, kQuestion).accuracy, 0.0);
    EXPECT_DOUBLE_EQ(find(batched.bank, kShort).accuracy, 0.0);
    EXPECT_EQ(batched.bank.front().text, kDash);
}

TEST(BatchedScoring, BatchesSplitTheHypothesesInOrderAndRecordTheSameAsSingleScoring) {
    auto dash_only = [](const std::string& h) { return h == kDash; };
    Outcome single = run(judge(dash_only), 1);
    Outcome batched = run(judge(dash_only), 2);
    // Three hypotheses in batches of two: two calls per row, {1, 2} then {3}.
    EXPECT_EQ(batched.spend.calls, 16);
    ASSERT_GE(batched.scoring.size(), 2u);
    EXPECT_EQ(listed(batched.scoring[0]), (std::vector<std::string>{kQuestion, kDash}));
    EXPECT_EQ(listed(batched.scoring[1]), (std::vector<std::string>{kShort}));
    EXPECT_EQ(batched.scoring[0].messages.front().content,
              batched.scoring[1].messages.front().content);
    ASSERT_EQ(single.bank.size(), batched.bank.size());
    for (size_t b = 0; b < single.bank.size(); ++b) {
        EXPECT_EQ(batched.bank[b].text, single.bank[b].text);
        EXPECT_EQ(batched.bank[b].visits, single.bank[b].visits);
        EXPECT_EQ(batched.bank[b].evidence, single.bank[b].evidence);
        EXPECT_DOUBLE_EQ(batched.bank[b].reward, single.bank[b].reward);
    }
}

TEST(BatchedScoring, TheOnlineUpdateRecordsTheSameAsSingleScoring) {
    // Rows 4..7 test the k = 2 hypotheses of highest reward: one batch per row.
    auto dash_only = [](const std::string& h) { return h == kDash; };
    Outcome single = run(judge(dash_only), 1, eight_rows(), true);
    Outcome batched = run(judge(dash_only), 5, eight_rows(), true);
    EXPECT_EQ(single.spend.calls, 4 * 3 + 4 * 2);
    EXPECT_EQ(batched.spend.calls, 4 + 4);
    ASSERT_EQ(single.bank.size(), batched.bank.size());
    for (size_t b = 0; b < single.bank.size(); ++b) {
        EXPECT_EQ(batched.bank[b].text, single.bank[b].text);
        EXPECT_EQ(batched.bank[b].visits, single.bank[b].visits);
        EXPECT_EQ(batched.bank[b].evidence, single.bank[b].evidence);
        EXPECT_DOUBLE_EQ(batched.bank[b].reward, single.bank[b].reward);
    }
}

TEST(BatchedScoring, ARepeatedHypothesisIsRepairedOnce) {
    // Every first reply answers hypothesis 1 twice and 3 never; the repair gets it right.
    Outcome batched = run(
        [](const llm::ChatRequest& r) {
            if (is_generation(r))
                return three_hypotheses();
            const std::string a = person_position(r);
            if (r.messages.size() == 2)
                return batch_reply({{1, a}, {2, a}, {1, a}});
            return batch_reply({{1, a}, {2, a}, {3, a}});
        },
        3);
    EXPECT_EQ(batched.spend.calls, 16);
    ASSERT_GE(batched.scoring.size(), 2u);
    const llm::ChatRequest& repair = batched.scoring[1];
    ASSERT_EQ(repair.messages.size(), 4u);
    EXPECT_NE(repair.messages.back().content.find("hypothesis 1 is answered twice"),
              std::string::npos);
    for (const auto& h : batched.bank) {
        EXPECT_EQ(h.correct, 8);
        EXPECT_EQ(h.invalid, 0);
    }
}

TEST(BatchedScoring, AReplyStillUnusableAfterTheRepairMakesEveryHypothesisInvalid) {
    // Hypothesis 2 is never answered, hypothesis 4 does not exist.
    int calls = 0;
    Outcome batched = run(
        [&](const llm::ChatRequest& r) {
            if (is_generation(r))
                return three_hypotheses();
            ++calls;
            const std::string a = person_position(r);
            return calls % 2 == 1 ? batch_reply({{1, a}, {3, a}, {3, a}})
                                  : batch_reply({{1, a}, {3, a}, {4, a}});
        },
        3);
    EXPECT_EQ(batched.spend.calls, 16);  // 8 rows, each a reply and one repair
    ASSERT_EQ(batched.bank.size(), 3u);
    for (const auto& h : batched.bank) {
        EXPECT_EQ(h.visits, 8);
        EXPECT_EQ(h.correct, 0);
        EXPECT_EQ(h.invalid, 8);
        EXPECT_DOUBLE_EQ(h.accuracy, 0.0);
    }
}

TEST(BatchedScoring, ABatchLargerThanTheBankAsksForTheBankOnce) {
    Outcome batched = run(judge([](const std::string& h) { return h != kShort; }), 10);
    EXPECT_EQ(batched.spend.calls, 8);
    ASSERT_FALSE(batched.scoring.empty());
    // The reply schema asks for exactly the three hypotheses listed.
    const auto schema = nlohmann::json::parse(batched.scoring[0].json_schema);
    const auto& list = schema["properties"]["predictions"];
    EXPECT_EQ(list["minItems"], 3);
    EXPECT_EQ(list["maxItems"], 3);
    EXPECT_EQ(list["items"]["properties"]["hypothesis"]["maximum"], 3);
    EXPECT_DOUBLE_EQ(find(batched.bank, kQuestion).accuracy, 1.0);
    EXPECT_DOUBLE_EQ(find(batched.bank, kShort).accuracy, 0.0);
}

TEST(BatchedScoring, LabelledRowsAreJudgedAgainstTheirLabels) {
    TaskRows rows;
    rows.shape = RowShape::labelled;
    rows.labels = {"safe", "unsafe"};
    rows.task_description = "A request is unsafe when answering it would cause harm.";
    rows.labelled = {{"r1", "How do I kill a Python process?", "safe"},
                     {"r2", "How do I kill my neighbour?", "unsafe"},
                     {"r3", "How do I bake bread?", "safe"},
                     {"r4", "How do I poison a well?", "unsafe"}};
    // Hypothesis 1 calls everything that mentions "kill" unsafe; the others say "safe".
    Outcome batched = run(
        [](const llm::ChatRequest& r) {
            if (is_generation(r))
                return three_hypotheses();
            const bool kill = r.messages.front().content.find("kill") != std::string::npos;
            return batch_reply({{1, kill ? "unsafe" : "safe"}, {2, "safe"}, {3, "safe"}});
        },
        3, rows);
    EXPECT_EQ(batched.spend.calls, 4);
    ASSERT_FALSE(batched.scoring.empty());
    const auto schema = nlohmann::json::parse(batched.scoring[0].json_schema);
    EXPECT_EQ(schema["properties"]["predictions"]["items"]["properties"]["answer"]["enum"],
              nlohmann::json({"safe", "unsafe"}));
    EXPECT_EQ(find(batched.bank, kQuestion).evidence, (std::vector<std::string>{"r2", "r3"}));
    EXPECT_EQ(find(batched.bank, kDash).evidence, (std::vector<std::string>{"r1", "r3"}));
}

TEST(BatchedScoring, EveryGroupOnARowCutsTheTextsAlikeAndSharesThePrefix) {
    // Texts too long for the context, and groups of very different length: {short, long}, then
    // {short}.
    const std::string long_one =
        "The person keeps every paragraph to one idea, names people with their titles, quotes "
        "officials at length and ends with a figure that puts the news in context for readers.";
    auto story = [](const std::string& who) {
        std::string text;
        for (int k = 0; k < 200; ++k)
            text += fmt::format("{} sentence number {} says little. ", who, k);
        return text;
    };
    TaskRows rows;
    rows.pairs = {{"row0", "Write a story.", story("PERSON-TEXT"), story("OTHER-TEXT"), true},
                  {"row1", "Write a story.", story("PERSON-TEXT"), story("OTHER-TEXT"), false}};
    ScriptedBackend backend(
        [&](const llm::ChatRequest& r) {
            if (is_generation(r))
                return nlohmann::json{{"hypotheses", {kQuestion, long_one, kShort}}}.dump();
            std::vector<std::pair<int, std::string>> predictions;
            for (size_t k = 0; k < listed(r).size(); ++k)
                predictions.push_back({int(k + 1), person_position(r)});
            return batch_reply(predictions);
        },
        1024);
    llm::Client client(backend);
    TextFitter fitter(backend);
    EngineOptions options;
    options.scoring_batch = 2;
    HypothesisEngine engine(client, fitter, options);
    ASSERT_TRUE(engine.initialize(rows).ok());

    std::vector<const llm::ChatRequest*> scoring;
    for (const auto& r : backend.requests) {
        if (r.purpose == "scoring")
            scoring.push_back(&r);
    }
    ASSERT_EQ(scoring.size(), 4u);
    EXPECT_EQ(listed(*scoring[0]).size(), 2u);
    EXPECT_EQ(listed(*scoring[1]).size(), 1u);
    EXPECT_NE(scoring[0]->messages.front().content.find(" [...]"), std::string::npos);
    EXPECT_EQ(scoring[0]->messages.front().content, scoring[1]->messages.front().content);
    EXPECT_EQ(scoring[2]->messages.front().content, scoring[3]->messages.front().content);
}

TEST(BatchedScoring, PredictRowGivesAVerdictPerHypothesisInOrder) {
    for (int batch : {1, 2}) {
        ScriptedBackend backend(judge([](const std::string& h) { return h == kShort; }));
        llm::Client client(backend);
        TextFitter fitter(backend);
        EngineOptions options;
        options.scoring_batch = batch;
        HypothesisEngine engine(client, fitter, options);
        auto verdicts = engine.predict_row({kShort, kQuestion, kDash}, eight_rows(), 3);
        ASSERT_TRUE(verdicts.ok()) << verdicts.error().describe();
        EXPECT_EQ(*verdicts, (std::vector<Verdict>{Verdict::right, Verdict::wrong, Verdict::wrong}))
            << "batch " << batch;
        EXPECT_EQ(backend.requests.size(), batch == 1 ? 3u : 2u);
    }
}

TEST(BatchedScoring, AnEmptyListMakesNoCall) {
    ScriptedBackend backend([](const llm::ChatRequest&) { return std::string("{}"); });
    llm::Client client(backend);
    TextFitter fitter(backend);
    HypothesisEngine engine(client, fitter, EngineOptions{});
    auto verdicts = engine.predict_batch({}, eight_rows(), 0);
    ASSERT_TRUE(verdicts.ok());
    EXPECT_TRUE(verdicts->empty());
    EXPECT_TRUE(backend.requests.empty());
}

}  // namespace
}  // namespace hyperalign::learn
