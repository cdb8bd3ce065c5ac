#include "hyperalign/data/demonstration_loader.hpp"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace hyperalign::data {
namespace {

using Metadata = std::vector<std::pair<std::string, std::string>>;

const std::string kDemos = std::string(HYPERALIGN_TEST_FIXTURES) + "/demos";
const std::string kDerived = "Write a text that starts with the following: ";

// True when the shared datasets are there (they are not part of the repository).
bool have_ccat50() {
    const auto dir = default_data_dir();
    std::error_code ec;
    return dir && std::filesystem::exists(*dir / "ccat50" / "ccat50_val.jsonl", ec);
}

std::string fixture(const std::string& name) {
    return kDemos + "/" + name;
}

// Loads `name` from the fixtures, expecting failure, and returns the error.
Error load_error(const std::string& name, const LoadOptions& options = {}) {
    auto result = load_demonstrations(fixture(name), options);
    EXPECT_FALSE(result.ok()) << name << " loaded " << result->size() << " rows";
    return result.ok() ? Error{} : result.error();
}

void expect_error(const Error& e, ErrorCode code, const std::string& file, int line,
                  const std::string& field) {
    EXPECT_EQ(e.code, code) << e.describe();
    EXPECT_EQ(e.file, file) << e.describe();
    EXPECT_EQ(e.line, line) << e.describe();
    EXPECT_EQ(e.field, field) << e.describe();
}

TEST(LoadDemonstrations, ReadsEveryNonBlankRowOfAJsonlFile) {
    auto result = load_demonstrations(fixture("good.jsonl"));
    ASSERT_TRUE(result.ok()) << result.error().describe();
    const auto& demos = *result;
    ASSERT_EQ(demos.size(), 4u);

    EXPECT_EQ(demos[0].id, "walk");
    EXPECT_EQ(demos[0].prompt, "Describe your Sunday walk.");
    EXPECT_FALSE(demos[0].prompt_derived);
    EXPECT_EQ(demos[0].text, "We took the river path again. Dr. Lee came too.");
    EXPECT_EQ(demos[0].source_file, fixture("good.jsonl"));
    EXPECT_EQ(demos[0].source_line, 1);

    EXPECT_EQ(demos[1].source_line, 3);
    EXPECT_EQ(demos[2].source_line, 5);
    EXPECT_EQ(demos[3].source_line, 6);
}

TEST(LoadDemonstrations, KeepsUnusedFieldsAsJsonTextInRowOrder) {
    auto result = load_demonstrations(fixture("good.jsonl"));
    ASSERT_TRUE(result.ok()) << result.error().describe();
    const auto& demos = *result;

    EXPECT_EQ(demos[0].metadata,
              (Metadata{{"author", "\"alice\""}, {"mood", R"({"sky":"grey","rain":true})"}}));
    EXPECT_EQ(demos[1].metadata, (Metadata{{"author", "\"bob\""}}));
    EXPECT_EQ(demos[2].metadata, (Metadata{{"tags", R"(["short","q"])"}, {"author", "\"alice\""}}));
    EXPECT_EQ(demos[3].metadata, (Metadata{{"score", "0.5"}}));
}

TEST(LoadDemonstrations, DefaultsTheIdToFileStemAndLineAndWritesIntegerIdsInDecimal) {
    auto result = load_demonstrations(fixture("good.jsonl"));
    ASSERT_TRUE(result.ok()) << result.error().describe();
    EXPECT_EQ((*result)[1].id, "good:3");
    EXPECT_EQ((*result)[2].id, "42");
    EXPECT_EQ((*result)[3].id, "good:6");
}

TEST(LoadDemonstrations, DerivesAMissingNullOrBlankPromptFromTheFirstSentence) {
    auto result = load_demonstrations(fixture("good.jsonl"));
    ASSERT_TRUE(result.ok()) << result.error().describe();
    const auto& demos = *result;

    EXPECT_EQ(demos[1].prompt, kDerived + "Mr. J. Smith moved to St. Louis in 1996.");
    EXPECT_TRUE(demos[1].prompt_derived);
    EXPECT_EQ(demos[2].prompt, kDerived + "Is it done?");
    EXPECT_TRUE(demos[2].prompt_derived);
    EXPECT_EQ(demos[3].prompt, kDerived + "No title here");
    EXPECT_TRUE(demos[3].prompt_derived);
}

TEST(LoadDemonstrations, AcceptsCrlfLineEndings) {
    auto result = load_demonstrations(fixture("crlf.jsonl"));
    ASSERT_TRUE(result.ok()) << result.error().describe();
    ASSERT_EQ(result->size(), 2u);
    EXPECT_EQ((*result)[1].id, "b");
    EXPECT_EQ((*result)[1].text, "Second line.");
}

TEST(LoadDemonstrations, RejectsMalformedJsonWithoutEchoingTheInput) {
    const Error e = load_error("malformed.jsonl");
    expect_error(e, ErrorCode::invalid_input, fixture("malformed.jsonl"), 2, "");
    EXPECT_EQ(e.message,
              "malformed JSON at column 41: syntax error while parsing object - unexpected end "
              "of input; expected '}'");
    EXPECT_EQ(e.message.find("Broken row"), std::string::npos);
}

TEST(LoadDemonstrations, RejectsARowThatIsNotAnObject) {
    const Error e = load_error("not_object.jsonl");
    expect_error(e, ErrorCode::invalid_input, fixture("not_object.jsonl"), 1, "");
    EXPECT_EQ(e.message, "a row must be a JSON object, found array");
}

TEST(LoadDemonstrations, RejectsAMissingText) {
    const Error e = load_error("missing_text.jsonl");
    expect_error(e, ErrorCode::invalid_input, fixture("missing_text.jsonl"), 3, "text");
    EXPECT_EQ(e.message, "missing required field `text`");
}

TEST(LoadDemonstrations, RejectsATextThatIsNotAString) {
    Error e = load_error("text_not_string.jsonl");
    expect_error(e, ErrorCode::invalid_input, fixture("text_not_string.jsonl"), 1, "text");
    EXPECT_EQ(e.message, "`text` must be a string, found number");

    e = load_error("text_null.jsonl");
    expect_error(e, ErrorCode::invalid_input, fixture("text_null.jsonl"), 1, "text");
    EXPECT_EQ(e.message, "`text` must be a string, found null");
}

TEST(LoadDemonstrations, RejectsAnEmptyText) {
    const Error e = load_error("empty_text.jsonl");
    expect_error(e, ErrorCode::invalid_input, fixture("empty_text.jsonl"), 2, "text");
    EXPECT_EQ(e.message, "`text` is empty");
}

TEST(LoadDemonstrations, RejectsAPromptThatIsNeitherStringNorNull) {
    const Error e = load_error("prompt_wrong_type.jsonl");
    expect_error(e, ErrorCode::invalid_input, fixture("prompt_wrong_type.jsonl"), 1, "prompt");
    EXPECT_EQ(e.message, "`prompt` must be a string or null, found array");
}

TEST(LoadDemonstrations, RejectsAnIdThatIsNeitherStringNorInteger) {
    const Error e = load_error("id_wrong_type.jsonl");
    expect_error(e, ErrorCode::invalid_input, fixture("id_wrong_type.jsonl"), 1, "id");
    EXPECT_EQ(e.message, "`id` must be a string or an integer, found number");
}

TEST(LoadDemonstrations, RejectsADuplicateId) {
    const Error e = load_error("duplicate_id.jsonl");
    expect_error(e, ErrorCode::invalid_input, fixture("duplicate_id.jsonl"), 3, "id");
    EXPECT_EQ(e.message, "duplicate id 'x' (first used on line 1)");
}

TEST(LoadDemonstrations, RejectsInvalidUtf8NamingTheByteColumn) {
    const Error e = load_error("invalid_utf8.jsonl");
    expect_error(e, ErrorCode::invalid_input, fixture("invalid_utf8.jsonl"), 2, "");
    EXPECT_EQ(e.message, "invalid UTF-8 at byte column 14; save the file as UTF-8");
}

TEST(LoadDemonstrations, RejectsAnInputWithoutRows) {
    for (const char* name : {"empty.jsonl", "blank_only.jsonl"}) {
        const Error e = load_error(name);
        expect_error(e, ErrorCode::invalid_input, fixture(name), 0, "");
        EXPECT_EQ(e.message, "no demonstrations: the file is empty or has only blank lines");
    }
}

TEST(LoadDemonstrations, ReportsAnUnknownPathAsNotFound) {
    auto result = load_demonstrations(fixture("no_such_file.jsonl"));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, ErrorCode::not_found);
    EXPECT_EQ(result.error().file, fixture("no_such_file.jsonl"));
}

TEST(LoadDemonstrations, ReadsEachTxtFileOfAFolderInNameOrder) {
    auto result = load_demonstrations(fixture("folder"));
    ASSERT_TRUE(result.ok()) << result.error().describe();
    const auto& demos = *result;
    ASSERT_EQ(demos.size(), 2u);

    EXPECT_EQ(demos[0].id, "a.txt");
    EXPECT_EQ(demos[0].text, "Dear team, the seminar is cancelled! See you next week.");
    EXPECT_EQ(demos[0].prompt, kDerived + "Dear team, the seminar is cancelled!");
    EXPECT_TRUE(demos[0].prompt_derived);
    EXPECT_EQ(demos[0].source_file, fixture("folder") + "/a.txt");
    EXPECT_EQ(demos[0].source_line, 0);
    EXPECT_TRUE(demos[0].metadata.empty());

    EXPECT_EQ(demos[1].id, "b.txt");
    EXPECT_EQ(demos[1].prompt, kDerived + "The second file.");
}

TEST(LoadDemonstrations, RejectsAFolderFileWithInvalidUtf8) {
    const Error e = load_error("folder_bad_utf8");
    expect_error(e, ErrorCode::invalid_input, fixture("folder_bad_utf8") + "/b.txt", 2, "");
    EXPECT_EQ(e.message, "invalid UTF-8 at byte column 6; save the file as UTF-8");
}

TEST(LoadDemonstrations, RejectsAFolderWithoutTxtFilesOrWithABlankOne) {
    Error e = load_error("folder_no_txt");
    expect_error(e, ErrorCode::invalid_input, fixture("folder_no_txt"), 0, "");
    EXPECT_EQ(e.message, "the folder has no .txt files (one text per file)");

    e = load_error("folder_blank_txt");
    expect_error(e, ErrorCode::invalid_input, fixture("folder_blank_txt") + "/blank.txt", 0,
                 "text");
}

TEST(LoadDemonstrations, KeepsOnlyTheRequestedAuthor) {
    auto result = load_demonstrations(fixture("good.jsonl"), {.author = "alice"});
    ASSERT_TRUE(result.ok()) << result.error().describe();
    ASSERT_EQ(result->size(), 2u);
    EXPECT_EQ((*result)[0].id, "walk");
    EXPECT_EQ((*result)[1].id, "42");
}

TEST(LoadDemonstrations, ListsKnownAuthorsWhenNoRowMatches) {
    const Error e = load_error("good.jsonl", {.author = "carol"});
    expect_error(e, ErrorCode::invalid_input, fixture("good.jsonl"), 0, "author");
    EXPECT_EQ(e.message, "no row has author 'carol'; known authors: alice, bob");
}

TEST(LoadDemonstrations, RejectsAnAuthorFilterOnInputWithoutAuthors) {
    for (const char* name : {"crlf.jsonl", "folder"}) {
        const Error e = load_error(name, {.author = "alice"});
        expect_error(e, ErrorCode::invalid_input, fixture(name), 0, "author");
        EXPECT_EQ(e.message,
                  "the input has no `author` field, so rows cannot be selected by author; drop "
                  "the author option");
    }
}

TEST(LoadDemonstrations, RejectsANonStringAuthorWhenFiltering) {
    const Error e = load_error("author_not_string.jsonl", {.author = "alice"});
    expect_error(e, ErrorCode::invalid_input, fixture("author_not_string.jsonl"), 2, "author");

    auto unfiltered = load_demonstrations(fixture("author_not_string.jsonl"));
    ASSERT_TRUE(unfiltered.ok()) << unfiltered.error().describe();
    EXPECT_EQ((*unfiltered)[1].metadata, (Metadata{{"author", "7"}}));
}

TEST(LoadDemonstrations, LimitKeepsTheFirstRowsAfterFiltering) {
    auto result = load_demonstrations(fixture("good.jsonl"), {.author = "alice", .limit = 1});
    ASSERT_TRUE(result.ok()) << result.error().describe();
    ASSERT_EQ(result->size(), 1u);
    EXPECT_EQ((*result)[0].id, "walk");

    result = load_demonstrations(fixture("good.jsonl"), {.author = std::nullopt, .limit = 3});
    ASSERT_TRUE(result.ok()) << result.error().describe();
    EXPECT_EQ(result->size(), 3u);
}

TEST(DefaultDataDir, PrefersTheEnvironmentVariable) {
    const char* old = std::getenv("HYPERALIGN_DATA_DIR");
    const std::string saved = old != nullptr ? old : "";
    setenv("HYPERALIGN_DATA_DIR", kDemos.c_str(), 1);
    const auto dir = default_data_dir();
    if (old != nullptr) {
        setenv("HYPERALIGN_DATA_DIR", saved.c_str(), 1);
    } else {
        unsetenv("HYPERALIGN_DATA_DIR");
    }
    ASSERT_TRUE(dir.has_value());
    EXPECT_EQ(dir->string(), kDemos);
}

TEST(LoadDemonstrations, ResolvesAStemUnderTheDataDirectory) {
    const char* old = std::getenv("HYPERALIGN_DATA_DIR");
    const std::string saved = old != nullptr ? old : "";
    setenv("HYPERALIGN_DATA_DIR", std::string(HYPERALIGN_TEST_FIXTURES).c_str(), 1);
    auto result = load_demonstrations("demos/crlf");
    auto missing = load_demonstrations("demos/no_such_stem");
    auto unknown = load_demonstrations("ccat51");
    if (old != nullptr) {
        setenv("HYPERALIGN_DATA_DIR", saved.c_str(), 1);
    } else {
        unsetenv("HYPERALIGN_DATA_DIR");
    }

    ASSERT_TRUE(result.ok()) << result.error().describe();
    EXPECT_EQ((*result)[0].source_file,
              std::string(HYPERALIGN_TEST_FIXTURES) + "/demos/crlf.jsonl");
    EXPECT_EQ((*result)[0].id, "a");

    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ErrorCode::not_found);
    EXPECT_EQ(missing.error().file, "demos/no_such_stem");
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code, ErrorCode::not_found);
    EXPECT_NE(unknown.error().message.find("ccat50, cmcc, custom"), std::string::npos);
}

// The real CCAT50 validation split: 50 authors with 3 articles each, grouped by author.
TEST(LoadDemonstrations, SelectsOneCcat50AuthorsThreeValidationArticles) {
    if (!have_ccat50())
        GTEST_SKIP() << "shared CCAT50 data not found";

    auto all = load_demonstrations("ccat50");
    ASSERT_TRUE(all.ok()) << all.error().describe();
    EXPECT_EQ(all->size(), 150u);

    auto result = load_demonstrations("ccat50", {.author = "ToddNissen"});
    ASSERT_TRUE(result.ok()) << result.error().describe();
    ASSERT_EQ(result->size(), 3u);
    for (int i = 0; i < 3; ++i) {
        const Demonstration& demo = (*result)[i];
        EXPECT_EQ(demo.id, "ccat50:val:2:" + std::to_string(i));
        EXPECT_EQ(demo.source_line, 7 + i);
        EXPECT_TRUE(demo.source_file.ends_with("ccat50/ccat50_val.jsonl"));
        EXPECT_FALSE(demo.prompt_derived);
        EXPECT_TRUE(demo.prompt.starts_with("Write an article that starts with the following: "));
        ASSERT_GE(demo.metadata.size(), 2u);
        EXPECT_EQ(demo.metadata[0], (std::pair<std::string, std::string>("dataset", "\"ccat50\"")));
        EXPECT_EQ(demo.metadata[2],
                  (std::pair<std::string, std::string>("author", "\"ToddNissen\"")));
    }

    const auto unknown = load_demonstrations("ccat50", {.author = "Nobody"});
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().message,
              "no row has author 'Nobody'; known authors: AaronPressman, AlanCrosby, "
              "AlexanderSmith, BenjaminKangLim, BernardHickey, BradDorfman, DarrenSchuettler, "
              "DavidLawder, EdnaFernandes, EricAuchard, ... (50 authors in all)");
}

TEST(LoadDemonstrations, DerivesPromptsForRawPoolRows) {
    if (!have_ccat50())
        GTEST_SKIP() << "shared CCAT50 data not found";

    auto result =
        load_demonstrations("ccat50/ccat50_train_raw", {.author = std::nullopt, .limit = 5});
    ASSERT_TRUE(result.ok()) << result.error().describe();
    ASSERT_EQ(result->size(), 5u);
    for (const Demonstration& demo : *result) {
        EXPECT_TRUE(demo.prompt_derived);
        EXPECT_TRUE(demo.prompt.starts_with(kDerived));
        EXPECT_TRUE(demo.text.starts_with(demo.prompt.substr(kDerived.size())));
    }
}

}  // namespace
}  // namespace hyperalign::data
