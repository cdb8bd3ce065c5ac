#include "hyperalign/prompts/library.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "hyperalign/llm/json_schema.hpp"

namespace hyperalign::prompts {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every variable filled with its own name in angle brackets, so a golden file shows where each
// one lands.
Vars placeholder_vars(const TemplateInfo& t) {
    Vars v;
    for (const auto& name : t.variables)
        v[name] = "<" + name + ">";
    return v;
}

TEST(Prompts, EveryTemplateRendersToItsGoldenFile) {
    auto templates = all();
    ASSERT_TRUE(templates.ok()) << templates.error().describe();
    const bool update = std::getenv("HYPERALIGN_UPDATE_GOLDEN") != nullptr;
    for (const TemplateInfo* t : *templates) {
        for (const auto& [part, _] : t->parts) {
            auto text = render(t->id, part, placeholder_vars(*t));
            ASSERT_TRUE(text.ok()) << t->id << "." << part << ": " << text.error().describe();
            fs::path golden =
                fs::path(HYPERALIGN_TEST_GOLDEN) / "prompts" / (t->id + "." + part + ".txt");
            if (update) {
                fs::create_directories(golden.parent_path());
                std::ofstream(golden, std::ios::binary) << *text;
                continue;
            }
            ASSERT_TRUE(fs::exists(golden)) << golden << " is missing; run the tests with "
                                            << "HYPERALIGN_UPDATE_GOLDEN=1 and review the diff";
            EXPECT_EQ(*text, read(golden)) << t->id << "." << part;
        }
    }
}

TEST(Prompts, ManifestVariablesMatchThePlaceholdersInTheText) {
    auto templates = all();
    ASSERT_TRUE(templates.ok());
    const std::regex placeholder(R"(\$\{([a-z_]+)\})");
    for (const TemplateInfo* t : *templates) {
        std::set<std::string> used;
        for (const auto& [_, text] : t->parts) {
            for (std::sregex_iterator it(text.begin(), text.end(), placeholder), end; it != end;
                 ++it) {
                used.insert((*it)[1]);
            }
        }
        std::set<std::string> declared(t->variables.begin(), t->variables.end());
        EXPECT_EQ(used, declared) << t->id;
    }
}

TEST(Prompts, EverySchemaIsInTheSupportedSubset) {
    auto templates = all();
    ASSERT_TRUE(templates.ok());
    int with_schema = 0;
    for (const TemplateInfo* t : *templates) {
        if (t->schema.empty())
            continue;
        ++with_schema;
        auto s = llm::JsonSchema::parse(t->schema);
        EXPECT_TRUE(s.ok()) << t->id << ": " << (s.ok() ? "" : s.error().describe());
    }
    EXPECT_GE(with_schema, 4);
}

TEST(Prompts, EmbeddedFilesMatchTheSourceTree) {
    auto templates = all();
    ASSERT_TRUE(templates.ok());
    auto t = find("attributes");
    ASSERT_TRUE(t.ok());
    std::string on_disk = read(fs::path(HYPERALIGN_SOURCE_DIR) / "prompts" / "attributes.user.txt");
    EXPECT_EQ((*t)->parts.at("user"), on_disk);
    EXPECT_EQ((*t)->sha256.size(), 64u);
}

TEST(Substitute, ReplacesPlaceholdersAndKeepsDollarSigns) {
    auto out = substitute("a ${x} b $$ c $5 ${y}", {{"x", "1"}, {"y", "${x}"}});
    ASSERT_TRUE(out.ok());
    // Values are inserted verbatim, never expanded again.
    EXPECT_EQ(*out, "a 1 b $ c $5 ${x}");
}

TEST(Substitute, FailsOnAPlaceholderWithoutAValue) {
    auto out = substitute("hello ${name}", {});
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().code, ErrorCode::internal);
    EXPECT_NE(out.error().message.find("name"), std::string::npos);
}

TEST(Substitute, FailsOnAnUnterminatedPlaceholder) {
    EXPECT_FALSE(substitute("hello ${name", {{"name", "x"}}).ok());
}

}  // namespace
}  // namespace hyperalign::prompts
