#include "hyperalign/eval/stylometry.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hyperalign::eval {
namespace {

// Sentences from one shared vocabulary (chosen by a fixed generator), each author with habits
// of their own: A exclaims twice and spells "colour", B joins clauses with semicolons and
// writes "whilst", C trails off with an ellipsis character and writes "café".
std::string synthetic_text(char author, uint32_t seed) {
    static const std::vector<std::string> vocabulary = {
        "the",  "market", "said", "on",    "today",   "report", "shares", "bank",   "rose", "fell",
        "week", "price",  "new",  "trade", "company", "year",   "sales",  "growth", "deal", "city"};
    uint32_t state = seed * 2654435761u + 12345u;
    auto next = [&] {
        state = state * 1664525u + 1013904223u;
        return state >> 16;
    };
    std::string text;
    for (int sentence = 0; sentence < 6; ++sentence) {
        std::string words;
        for (int w = 0; w < 7; ++w) {
            if (w > 0)
                words += w == 3 && author == 'B' ? "; " : " ";
            words += vocabulary[next() % vocabulary.size()];
        }
        words[0] = static_cast<char>(words[0] - 'a' + 'A');
        if (author == 'A')
            text += words + " and the colour!! ";
        else if (author == 'B')
            text += words + " whilst waiting. ";
        else
            text += words + " at the café\u2026 ";
    }
    return text;
}

std::vector<LabelledText> synthetic_set(uint32_t first_seed, int per_author) {
    std::vector<LabelledText> texts;
    for (int i = 0; i < per_author; ++i)
        for (char author : {'A', 'B', 'C'})
            texts.push_back({std::string("author") + author,
                             synthetic_text(author, first_seed + static_cast<uint32_t>(i))});
    return texts;
}

StylometryOptions small_corpus_options() {
    StylometryOptions options;
    options.threads = 2;
    return options;
}

TEST(StylometricJudge, AttributesHeldOutTextsByCharacterHabits) {
    auto judge = StylometricJudge::train(synthetic_set(1, 8), small_corpus_options());
    ASSERT_TRUE(judge.ok()) << judge.error().describe();
    EXPECT_EQ(judge->authors(), (std::vector<std::string>{"authorA", "authorB", "authorC"}));

    const auto held_out = synthetic_set(100, 4);
    const auto evaluation = judge->evaluate(held_out);
    EXPECT_EQ(evaluation.n, 12u);
    EXPECT_EQ(evaluation.correct, 12u);
    EXPECT_DOUBLE_EQ(evaluation.accuracy(), 1.0);
    EXPECT_EQ(judge->attribute(synthetic_text('B', 555)), "authorB");
}

TEST(StylometricJudge, ScoresEveryAuthorBestFirst) {
    auto judge = StylometricJudge::train(synthetic_set(1, 8), small_corpus_options());
    ASSERT_TRUE(judge.ok()) << judge.error().describe();
    const auto scores = judge->scores(synthetic_text('C', 777));
    ASSERT_EQ(scores.size(), 3u);
    EXPECT_EQ(scores[0].first, "authorC");
    EXPECT_GT(scores[0].second, scores[1].second);
    EXPECT_GE(scores[1].second, scores[2].second);
}

TEST(StylometricJudge, CountsAnUnknownAuthorAsWrong) {
    auto judge = StylometricJudge::train(synthetic_set(1, 8), small_corpus_options());
    ASSERT_TRUE(judge.ok()) << judge.error().describe();
    const auto evaluation = judge->evaluate(
        {{"authorA", synthetic_text('A', 300)}, {"someone else", synthetic_text('A', 301)}});
    EXPECT_EQ(evaluation.n, 2u);
    EXPECT_EQ(evaluation.correct, 1u);
    EXPECT_DOUBLE_EQ(evaluation.accuracy(), 0.5);
    EXPECT_DOUBLE_EQ(StylometricJudge::Evaluation{}.accuracy(), 0.0);
}

TEST(StylometricJudge, AnswersForEmptyAndMalformedText) {
    auto judge = StylometricJudge::train(synthetic_set(1, 8), small_corpus_options());
    ASSERT_TRUE(judge.ok()) << judge.error().describe();
    for (std::string_view text : {std::string_view(""), std::string_view("\xFF\xFE\xC3"),
                                  std::string_view("\0\0", 2), std::string_view("   \n ")}) {
        const auto author = judge->attribute(text);
        EXPECT_NE(std::find(judge->authors().begin(), judge->authors().end(), author),
                  judge->authors().end());
        EXPECT_EQ(judge->scores(text).size(), 3u);
    }
}

TEST(StylometricJudge, TrainsTheSameModelTwiceAndOnAnyThreadCount) {
    auto options = small_corpus_options();
    auto first = StylometricJudge::train(synthetic_set(1, 8), options);
    auto second = StylometricJudge::train(synthetic_set(1, 8), options);
    options.threads = 1;
    auto single = StylometricJudge::train(synthetic_set(1, 8), options);
    ASSERT_TRUE(first.ok() && second.ok() && single.ok());

    EXPECT_EQ(first->feature_count(), second->feature_count());
    EXPECT_EQ(first->feature_count(), single->feature_count());
    for (uint32_t seed : {900u, 901u, 902u}) {
        for (char author : {'A', 'B', 'C'}) {
            const auto text = synthetic_text(author, seed);
            EXPECT_EQ(first->scores(text), second->scores(text));
            EXPECT_EQ(first->scores(text), single->scores(text));
        }
    }
}

TEST(StylometricJudge, KeepsOnlyFeaturesInMinDfTexts) {
    // Words only: "the" 2 texts (case folded), "cat" 2, "sat" 2, "ran" 1, "a" 1, "dog" 1;
    // "the cat" 2, "cat sat" 1, "cat ran" 1, "a dog" 1, "dog sat" 1.
    const std::vector<LabelledText> texts = {
        {"x", "The cat sat."}, {"y", "the CAT ran"}, {"z", "a dog, sat"}};
    StylometryOptions options;
    options.char_max = 0;
    options.word_min = 1;
    options.word_max = 2;

    options.min_df = 2;
    auto judge = StylometricJudge::train(texts, options);
    ASSERT_TRUE(judge.ok()) << judge.error().describe();
    EXPECT_EQ(judge->feature_count(), 4u);

    options.min_df = 1;
    judge = StylometricJudge::train(texts, options);
    ASSERT_TRUE(judge.ok()) << judge.error().describe();
    EXPECT_EQ(judge->feature_count(), 11u);

    options.max_features = 3;
    judge = StylometricJudge::train(texts, options);
    ASSERT_TRUE(judge.ok()) << judge.error().describe();
    EXPECT_EQ(judge->feature_count(), 3u);

    options.max_features = 100;
    options.word_min = 2;
    judge = StylometricJudge::train(texts, options);
    ASSERT_TRUE(judge.ok()) << judge.error().describe();
    EXPECT_EQ(judge->feature_count(), 5u);
}

TEST(StylometricJudge, CountsCharactersWithWhitespaceRunsAsOneSpace) {
    // Both texts read "a bé..." once whitespace is collapsed and trimmed; "é" is two bytes but
    // one character, and "ab", "éé", "é ", " a" occur in the second text only.
    const std::vector<LabelledText> texts = {{"x", "  a \t\r\n b\u00e9 "},
                                             {"y", "a b\u00e9\u00e9 ab"}};
    StylometryOptions options;
    options.char_min = 1;
    options.char_max = 2;
    options.word_max = 0;
    options.min_df = 2;
    auto judge = StylometricJudge::train(texts, options);
    ASSERT_TRUE(judge.ok()) << judge.error().describe();
    // a, space, b, é, "a ", " b", "bé"
    EXPECT_EQ(judge->feature_count(), 7u);
}

TEST(StylometricJudge, RejectsInvalidTrainingInput) {
    auto one_author = StylometricJudge::train({{"x", "some text"}, {"x", "more text"}});
    ASSERT_FALSE(one_author.ok());
    EXPECT_EQ(one_author.error().code, ErrorCode::invalid_input);

    auto empty_text = StylometricJudge::train({{"x", "some text"}, {"y", " \n\t "}});
    ASSERT_FALSE(empty_text.ok());
    EXPECT_EQ(empty_text.error().code, ErrorCode::invalid_input);
    EXPECT_EQ(empty_text.error().field, "texts[1].text");

    auto no_author = StylometricJudge::train({{"", "some text"}, {"y", "other text"}});
    ASSERT_FALSE(no_author.ok());
    EXPECT_EQ(no_author.error().field, "texts[0].author");

    auto nothing = StylometricJudge::train({});
    ASSERT_FALSE(nothing.ok());
    EXPECT_EQ(nothing.error().code, ErrorCode::invalid_input);

    StylometryOptions options;
    options.min_df = 3;
    auto pruned_away = StylometricJudge::train({{"x", "ab"}, {"y", "cd"}}, options);
    ASSERT_FALSE(pruned_away.ok());
    EXPECT_EQ(pruned_away.error().code, ErrorCode::invalid_input);

    for (auto change : std::vector<void (*)(StylometryOptions&)>{
             [](StylometryOptions& o) { o.char_max = 8; },
             [](StylometryOptions& o) { o.char_min = 5; },
             [](StylometryOptions& o) { o.word_max = 3; },
             [](StylometryOptions& o) { o.char_max = 0, o.word_max = 0; },
             [](StylometryOptions& o) { o.c = 0; }, [](StylometryOptions& o) { o.min_df = 0; },
             [](StylometryOptions& o) { o.tolerance = -1; }}) {
        StylometryOptions bad;
        change(bad);
        auto judge = StylometricJudge::train({{"x", "some text"}, {"y", "other text"}}, bad);
        ASSERT_FALSE(judge.ok());
        EXPECT_EQ(judge.error().code, ErrorCode::invalid_input);
        EXPECT_EQ(judge.error().field, "options");
    }
}

}  // namespace
}  // namespace hyperalign::eval
