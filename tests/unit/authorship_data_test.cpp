#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "hyperalign/eval/authorship_data.hpp"

namespace hyperalign::eval {
namespace {

const std::string kFixtures = std::string(HYPERALIGN_TEST_FIXTURES) + "/authorship/";

TEST(AuthorshipData, Ccat50BuildsTrainingFromTheRawPoolWithoutValidationArticles) {
    auto d = load_authorship_dataset("ccat50");
    ASSERT_TRUE(d.ok()) << d.error().describe();
    // 120 test tasks by 40 authors; 50 authors x (50 raw - 3 in DITTO's validation split).
    EXPECT_EQ(d.value().tasks.size(), 120u);
    EXPECT_EQ(d.value().authors.size(), 40u);
    EXPECT_EQ(d.value().train.size(), 50u);
    size_t total = 0;
    for (const auto& [author, texts] : d.value().train) {
        EXPECT_EQ(texts.size(), 47u) << author;
        total += texts.size();
    }
    EXPECT_EQ(total, 2350u);
    const auto& first = d.value().train.at("FumikoFujisaki").front();
    EXPECT_TRUE(first.prompt_derived);
    EXPECT_TRUE(first.prompt.starts_with("Write an article that starts with the following: "));
    // The first-sentence rule against DITTO's 270 prompts.
    ASSERT_TRUE(d.value().prompt_check.has_value());
    EXPECT_EQ(d.value().prompt_check->rows, 270u);
    EXPECT_EQ(d.value().prompt_check->reproduced, 266u);
    EXPECT_EQ(d.value().prompt_check->differing_ids.size(), 4u);
}

TEST(AuthorshipData, Ccat50PromptIsDittosTemplate) {
    auto p = ccat50_prompt("Japan's trade surplus fell. More text follows.");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p.value(),
              "Write an article that starts with the following: Japan's trade surplus fell.");
}

TEST(AuthorshipData, AuthorFilterAndTaskCap) {
    AuthorshipLoadOptions o;
    o.authors = {"FumikoFujisaki", "SarahDavison"};
    o.tasks_per_author = 2;
    auto d = load_authorship_dataset("ccat50", o);
    ASSERT_TRUE(d.ok()) << d.error().describe();
    EXPECT_EQ(d.value().tasks.size(), 4u);
    EXPECT_EQ(d.value().authors, (std::vector<std::string>{"FumikoFujisaki", "SarahDavison"}));
}

TEST(AuthorshipData, UnknownAuthorIsNotFound) {
    AuthorshipLoadOptions o;
    o.authors = {"Nobody"};
    auto d = load_authorship_dataset("ccat50", o);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::not_found);
    EXPECT_NE(d.error().message.find("Nobody"), std::string::npos);
}

TEST(AuthorshipData, CmccAndCustom) {
    auto cmcc = load_authorship_dataset("cmcc");
    ASSERT_TRUE(cmcc.ok()) << cmcc.error().describe();
    EXPECT_EQ(cmcc.value().tasks.size(), 40u);
    EXPECT_EQ(cmcc.value().authors.size(), 17u);
    EXPECT_FALSE(cmcc.value().prompt_check.has_value());
    auto custom = load_authorship_dataset("custom");
    ASSERT_TRUE(custom.ok()) << custom.error().describe();
    ASSERT_EQ(custom.value().tasks.size(), 1u);
    EXPECT_FALSE(custom.value().tasks[0].gold.has_value());
    EXPECT_EQ(custom.value().train.at("custom_user_0").size(), 4u);
}

TEST(AuthorshipData, UserFileSplitsByTheSplitField) {
    auto d = load_authorship_dataset(kFixtures + "tiny.jsonl");
    ASSERT_TRUE(d.ok()) << d.error().describe();
    EXPECT_EQ(d.value().name, "tiny");
    ASSERT_EQ(d.value().tasks.size(), 2u);
    EXPECT_EQ(d.value().tasks[0].id, "t1");
    EXPECT_EQ(*d.value().tasks[0].gold, "Snow. Quiet. Lovely.");
    EXPECT_FALSE(d.value().tasks[1].gold.has_value());
    const auto& ann = d.value().train.at("ann");
    ASSERT_EQ(ann.size(), 2u);
    EXPECT_FALSE(ann[0].prompt_derived);
    EXPECT_TRUE(ann[1].prompt_derived);
    AuthorshipLoadOptions val;
    val.split = "val";
    auto v = load_authorship_dataset(kFixtures + "tiny.jsonl", val);
    ASSERT_TRUE(v.ok()) << v.error().describe();
    ASSERT_EQ(v.value().tasks.size(), 1u);
    EXPECT_EQ(v.value().tasks[0].id, "v1");
}

TEST(AuthorshipData, TaskWithoutPromptNamesFileLineAndField) {
    auto d = load_authorship_dataset(kFixtures + "no_prompt.jsonl");
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::invalid_input);
    EXPECT_EQ(d.error().line, 3);
    EXPECT_EQ(d.error().field, "prompt");
    EXPECT_NE(d.error().file.find("no_prompt.jsonl"), std::string::npos);
}

TEST(AuthorshipData, AnAuthorNeedsTwoTrainingTexts) {
    auto d = load_authorship_dataset(kFixtures + "one_text.jsonl");
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::invalid_input);
    EXPECT_NE(d.error().message.find("1 training texts"), std::string::npos);
}

// Writes `lines` to a fresh file in the temporary folder and returns its path.
std::string write_rows(const std::string& name, const std::string& lines) {
    const auto path = std::filesystem::temp_directory_path() /
                      fmt::format("hyperalign-data-{}-{}", getpid(), name);
    std::ofstream(path) << lines;
    return path.string();
}

TEST(AuthorshipData, AuthorAndTextMustBeStrings) {
    const std::string train = R"({"split": "train", "author": "ann", "text": "One."})"
                              "\n"
                              R"({"split": "train", "author": "ann", "text": "Two."})"
                              "\n";
    auto author = load_authorship_dataset(write_rows(
        "author.jsonl", train + R"({"split": "test", "author": 7, "prompt": "Write.", "id": 3})"
                                "\n"));
    ASSERT_FALSE(author.ok());
    EXPECT_EQ(author.error().line, 3);
    EXPECT_EQ(author.error().field, "author");
    auto text = load_authorship_dataset(
        write_rows("text.jsonl", train + R"({"split": "train", "author": "bob", "text": 12})"
                                         "\n"));
    ASSERT_FALSE(text.ok());
    EXPECT_EQ(text.error().line, 3);
    EXPECT_EQ(text.error().field, "text");
    // An integer id is read as its digits.
    auto id = load_authorship_dataset(write_rows(
        "id.jsonl", train + R"({"split": "test", "author": "ann", "prompt": "W.", "id": 3})"
                            "\n"));
    ASSERT_TRUE(id.ok()) << id.error().describe();
    EXPECT_EQ(id.value().tasks[0].id, "3");
}

TEST(AuthorshipData, AnUnknownSplitNamesLineAndField) {
    auto d = load_authorship_dataset(
        write_rows("split.jsonl", R"({"split": "train", "author": "ann", "text": "One."})"
                                  "\n"
                                  R"({"split": "tset", "author": "ann", "prompt": "Write."})"
                                  "\n"));
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().line, 2);
    EXPECT_EQ(d.error().field, "split");
    EXPECT_NE(d.error().message.find("tset"), std::string::npos);
}

TEST(AuthorshipData, UnknownDatasetIsNotFound) {
    auto d = load_authorship_dataset("no-such-dataset");
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::not_found);
}

}  // namespace
}  // namespace hyperalign::eval
