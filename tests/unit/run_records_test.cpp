#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "hyperalign/eval/run_records.hpp"

namespace hyperalign::eval {
namespace {

namespace fs = std::filesystem;

class RunRecordsFile : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               fmt::format("hyperalign-records-{}-{}", getpid(), info->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path path() const { return dir_ / "sub" / "records.jsonl"; }
    fs::path dir_;
};

TEST_F(RunRecordsFile, RecordsSurviveReopening) {
    {
        auto r = RunRecords::open(path());
        ASSERT_TRUE(r.ok()) << r.error().describe();
        ASSERT_TRUE(r.value()->put("a", {{"text", "one"}}).ok());
        ASSERT_TRUE(r.value()->put("b", {{"text", "two"}}).ok());
        ASSERT_TRUE(r.value()->put("a", {{"text", "three"}}).ok());
    }
    auto r = RunRecords::open(path());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value()->size(), 2u);
    ASSERT_NE(r.value()->find("a"), nullptr);
    EXPECT_EQ((*r.value()->find("a"))["text"], "three");
    EXPECT_EQ(r.value()->find("c"), nullptr);
}

TEST_F(RunRecordsFile, AnUnfinishedLastLineIsDropped) {
    fs::create_directories(path().parent_path());
    {
        std::ofstream out(path());
        out << R"({"key": "a", "v": 1})"
            << "\n"
            << R"({"key": "b", "v)";
    }
    auto r = RunRecords::open(path());
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r.value()->size(), 1u);
    ASSERT_TRUE(r.value()->put("c", {{"v", 3}}).ok());
    r.value().reset();
    auto again = RunRecords::open(path());
    ASSERT_TRUE(again.ok()) << again.error().describe();
    EXPECT_EQ(again.value()->size(), 2u);
}

TEST_F(RunRecordsFile, ABrokenLineNamesFileAndLine) {
    fs::create_directories(path().parent_path());
    {
        std::ofstream out(path());
        out << R"({"key": "a"})"
            << "\n"
            << R"({"nokey": 1})"
            << "\n"
            << R"({"key": "c"})"
            << "\n";
    }
    auto r = RunRecords::open(path());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::invalid_input);
    EXPECT_EQ(r.error().line, 2);
    EXPECT_EQ(r.error().file, path().string());
}

TEST_F(RunRecordsFile, ABrokenLastLineIsDroppedEvenWithItsNewline) {
    fs::create_directories(path().parent_path());
    {
        std::ofstream out(path());
        out << R"({"key": "a", "v": 1})"
            << "\n"
            << R"({"key": "b", "v)"
            << "\n";
    }
    auto r = RunRecords::open(path());
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r.value()->size(), 1u);
    EXPECT_EQ(fs::file_size(path()), std::string(R"({"key": "a", "v": 1})").size() + 1);
}

TEST_F(RunRecordsFile, OneRunAtATimeHoldsTheFile) {
    auto first = RunRecords::open(path());
    ASSERT_TRUE(first.ok()) << first.error().describe();
    auto second = RunRecords::open(path());
    ASSERT_FALSE(second.ok());
    EXPECT_NE(second.error().message.find("another run"), std::string::npos);
    first.value().reset();
    EXPECT_TRUE(RunRecords::open(path()).ok());
}

}  // namespace
}  // namespace hyperalign::eval
