#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hyperalign/core/profile.hpp"
#include "hyperalign/llm/json_schema.hpp"

namespace hyperalign {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kSchemaPath = HYPERALIGN_SOURCE_DIR "/schemas/profile.schema.json";
constexpr const char* kFile = "alice.profile.json";

// Every field set, with values that are easy to get wrong: text with quotes, newlines and
// non-ASCII characters, doubles without a short decimal form, integers beyond 32 bits and the
// largest seed.
Profile full_profile() {
    Profile p;
    p.person = "alice \"al\" o'neil";
    p.version = 3;
    p.attributes.writing_style = {"short sentences", "dry humour\nwith asides"};
    p.attributes.personality = {"curious"};
    p.attributes.communication = {};
    p.attributes.background = {"caf\xC3\xA9 owner", "\xE6\x9D\xB1\xE4\xBA\xAC"};

    Hypothesis first;
    first.text = "Prefers concrete examples to abstractions.";
    first.visits = 7;
    first.correct = 6;
    first.invalid = 1;
    first.accuracy = 6.0 / 7.0;
    first.reward = 6.0 / 7.0 + 0.5 * 0.123456789;
    first.evidence = {"d1", "d2", "d4", "d5", "d6", "d7"};
    first.origin = "init:batch 1";
    Hypothesis unvisited;
    unvisited.text = "Writes \"we\" for \"I\".";
    unvisited.reward = 1.0 + 0.5 * 1e6;
    unvisited.origin = "update:row 12";
    unvisited.source = "person";
    unvisited.pinned = true;
    p.hypotheses = {first, unvisited};
    p.history = {{"added", first.text, 1, -1, 0.75, 0.75 + 0.5 * 0.123456789, "init:batch 1"},
                 {"dropped", "Likes \"quotes\".", 2, 12, 0.25, 0.5, "below the top 20"},
                 {"added_by_person", unvisited.text, 3, -1, 0, 0, "added by hand"},
                 {"pinned", unvisited.text, 3, -1, 0, 0, ""}};

    p.demonstrations = {
        {"d1", "Describe your town.", false, "It is small.\n\nAnd loud.", std::string(64, 'a')},
        {"d2", "", true, "Caf\xC3\xA9 talk \\o/", std::string(64, '0')},
    };

    Provenance& pv = p.provenance;
    pv.tool_version = "0.1.0";
    pv.backend = "llama.cpp";
    pv.model = "/models/tiny \"q8\".gguf";
    pv.model_sha256 = std::string(64, 'f');
    pv.chat_template = "{{ messages }}";
    pv.context_size = 4096;
    pv.seed = 4294967295u;
    pv.parameters = {{"alpha", "0.5"},       {"attributes", "true"}, {"contrast", "\"others\""},
                     {"temperature", "0.7"}, {"top_k", "40"},        {"top_p", "0.95"},
                     {"max_tokens", "-1"}};
    pv.prompt_versions = {{"attributes", "v1:" + std::string(64, 'b')},
                          {"contrast", "v2:" + std::string(64, 'c')}};
    pv.spend = {{"attributes", {1, 0, 2048, 512}}, {"predict", {120, 3, 5'000'000'000, 1'200}}};
    pv.texts_cut = 2;
    pv.created_at = "2024-05-01T12:00:00Z";
    return p;
}

// The document of full_profile() after `change`.
std::string mutated(const std::function<void(Json&)>& change) {
    Json doc = Json::parse(to_json(full_profile()));
    change(doc);
    return doc.dump(2);
}

// The error profile_from_json() returns, or an internal error saying it read the profile.
Error read_error(const std::string& text) {
    auto profile = profile_from_json(text, kFile);
    if (profile.ok())
        return make_error(ErrorCode::internal, "profile read");
    return profile.error();
}

void expect_read_error(const std::string& text, std::string_view field, std::string_view message) {
    Error error = read_error(text);
    EXPECT_EQ(to_string(error.code), to_string(ErrorCode::invalid_input)) << error.describe();
    EXPECT_EQ(error.file, kFile);
    EXPECT_EQ(error.field, field);
    EXPECT_EQ(error.message, message);
}

std::string read_text(const char* path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

Result<llm::JsonSchema> profile_schema() {
    return llm::JsonSchema::parse(read_text(kSchemaPath));
}

// The error the profile schema reports for `document`, or an internal error saying it passed.
Error schema_error(const std::string& document) {
    auto schema = profile_schema();
    if (!schema.ok())
        return make_error(ErrorCode::internal, "schema failed: " + schema.error().describe());
    Status status = schema->validate(document);
    if (status.ok())
        return make_error(ErrorCode::internal, "document passed");
    return status.error();
}

void expect_schema_error(const std::string& document, std::string_view field,
                         std::string_view message) {
    Error error = schema_error(document);
    EXPECT_EQ(to_string(error.code), to_string(ErrorCode::bad_model_output)) << error.describe();
    EXPECT_EQ(error.field, field);
    EXPECT_EQ(error.message, message);
}

TEST(ProfileJson, SurvivesARoundTripByteForByte) {
    const std::string text = to_json(full_profile());
    auto profile = profile_from_json(text, kFile);
    ASSERT_TRUE(profile.ok()) << profile.error().describe();
    EXPECT_EQ(to_json(*profile), text);

    // Spot checks that the round trip is not two equal mistakes.
    EXPECT_EQ(profile->person, "alice \"al\" o'neil");
    EXPECT_EQ(profile->hypotheses.at(0).accuracy, 6.0 / 7.0);
    EXPECT_EQ(profile->hypotheses.at(1).reward, 1.0 + 0.5 * 1e6);
    EXPECT_EQ(profile->attributes.background.at(1), "\xE6\x9D\xB1\xE4\xBA\xAC");
    EXPECT_TRUE(profile->demonstrations.at(1).prompt_derived);
    EXPECT_EQ(profile->provenance.seed, 4294967295u);
    EXPECT_EQ(profile->provenance.spend.at("predict").tokens_prompt, 5'000'000'000);
    EXPECT_EQ(profile->provenance.parameters, full_profile().provenance.parameters);
    EXPECT_EQ(profile->hypotheses.at(0).source, "learned");
    EXPECT_FALSE(profile->hypotheses.at(0).pinned);
    EXPECT_EQ(profile->hypotheses.at(1).source, "person");
    EXPECT_TRUE(profile->hypotheses.at(1).pinned);
    ASSERT_EQ(profile->history.size(), 4u);
    EXPECT_EQ(profile->history.at(1).kind, "dropped");
    EXPECT_EQ(profile->history.at(1).text, "Likes \"quotes\".");
    EXPECT_EQ(profile->history.at(1).version, 2);
    EXPECT_EQ(profile->history.at(1).row, 12);
    EXPECT_EQ(profile->history.at(1).accuracy, 0.25);
    EXPECT_EQ(profile->history.at(1).reason, "below the top 20");
    EXPECT_EQ(profile->history.at(0).reward, 0.75 + 0.5 * 0.123456789);
}

TEST(ProfileJson, ReadsASchemaVersion1DocumentAsLearnedUnpinnedWithNoHistory) {
    // A version 1 document: no history, and hypotheses without source or pinned.
    const std::string v1 = mutated([](Json& d) {
        d["schema_version"] = 1;
        d.erase("history");
        for (auto& h : d["hypotheses"]) {
            h.erase("source");
            h.erase("pinned");
        }
    });
    auto profile = profile_from_json(v1, kFile);
    ASSERT_TRUE(profile.ok()) << profile.error().describe();
    EXPECT_EQ(profile->schema_version, 2);
    EXPECT_TRUE(profile->history.empty());
    ASSERT_EQ(profile->hypotheses.size(), 2u);
    EXPECT_EQ(profile->hypotheses.at(1).source, "learned");
    EXPECT_FALSE(profile->hypotheses.at(1).pinned);
    EXPECT_EQ(profile->hypotheses.at(0).visits, 7);
    EXPECT_EQ(profile->version, 3);
    // It is written back as version 2.
    EXPECT_EQ(Json::parse(to_json(*profile))["schema_version"], 2);
}

TEST(ProfileJson, RequiresTheVersion2FieldsInAVersion2Document) {
    expect_read_error(mutated([](Json& d) { d.erase("history"); }), "history",
                      "profile field is missing");
    expect_read_error(mutated([](Json& d) { d["hypotheses"][1].erase("pinned"); }),
                      "hypotheses[1].pinned", "profile field is missing");
    expect_read_error(mutated([](Json& d) { d["history"][0]["row"] = "3"; }), "history[0].row",
                      "profile field must be an integer, not string");
}

TEST(ProfileJson, WritesKeysInAFixedOrderWithParametersAsJsonValues) {
    Json doc = Json::parse(to_json(full_profile()));
    std::vector<std::string> keys;
    for (const auto& [key, value] : doc.items())
        keys.push_back(key);
    EXPECT_EQ(keys,
              (std::vector<std::string>{"schema_version", "person", "version", "attributes",
                                        "hypotheses", "demonstrations", "provenance", "history"}));
    const Json& params = doc["provenance"]["parameters"];
    EXPECT_TRUE(params["alpha"].is_number_float());
    EXPECT_TRUE(params["top_k"].is_number_integer());
    EXPECT_TRUE(params["attributes"].is_boolean());
    EXPECT_EQ(params["contrast"], "others");
}

TEST(ProfileJson, WritesAParameterThatIsNotJsonAsAString) {
    Profile p = full_profile();
    p.provenance.parameters["note"] = "not json {";
    const std::string text = to_json(p);
    auto profile = profile_from_json(text, kFile);
    ASSERT_TRUE(profile.ok()) << profile.error().describe();
    EXPECT_EQ(profile->provenance.parameters.at("note"), "\"not json {\"");
}

TEST(ProfileJson, SchemaAcceptsWhatToJsonWrites) {
    auto schema = profile_schema();
    ASSERT_TRUE(schema.ok()) << schema.error().describe();
    Status full = schema->validate(to_json(full_profile()));
    EXPECT_TRUE(full.ok()) << full.error().describe();
    Status empty = schema->validate(to_json(Profile{}));
    EXPECT_TRUE(empty.ok()) << empty.error().describe();
}

TEST(ProfileJson, ReportsAWrongTypeAtItsFieldPath) {
    expect_read_error(mutated([](Json& d) { d["hypotheses"][1]["accuracy"] = "high"; }),
                      "hypotheses[1].accuracy", "profile field must be a number, not string");
    expect_read_error(mutated([](Json& d) {
                          d["attributes"]["personality"] = {"a", 2};
                      }),
                      "attributes.personality",
                      "profile field must be an array of strings, not array");
    expect_read_error(mutated([](Json& d) { d["demonstrations"][1] = "d2"; }), "demonstrations[1]",
                      "profile field must be an object, not string");
    expect_read_error(mutated([](Json& d) { d["provenance"]["spend"] = Json::array(); }),
                      "provenance.spend", "profile field must be an object, not array");
}

TEST(ProfileJson, RefusesNumbersThatWouldChangeWhenRead) {
    // nlohmann alone would read these as 1, 2 and 4294967295.
    expect_read_error(mutated([](Json& d) { d["hypotheses"][0]["correct"] = true; }),
                      "hypotheses[0].correct", "profile field must be an integer, not boolean");
    expect_read_error(mutated([](Json& d) { d["hypotheses"][0]["visits"] = 2.5; }),
                      "hypotheses[0].visits", "profile field must be an integer, not number");
    expect_read_error(mutated([](Json& d) { d["provenance"]["seed"] = -1; }), "provenance.seed",
                      "profile field must be an integer from 0 to 4294967295");
    expect_read_error(mutated([](Json& d) { d["provenance"]["context_size"] = 3'000'000'000; }),
                      "provenance.context_size",
                      "profile field must be an integer from -2147483648 to 2147483647");
}

TEST(ProfileJson, ReportsAMissingFieldAtItsPath) {
    expect_read_error(mutated([](Json& d) { d["provenance"].erase("seed"); }), "provenance.seed",
                      "profile field is missing");
    expect_read_error(mutated([](Json& d) { d["provenance"]["spend"]["predict"].erase("calls"); }),
                      "provenance.spend.predict.calls", "profile field is missing");
    expect_read_error(mutated([](Json& d) { d.erase("hypotheses"); }), "hypotheses",
                      "profile field is missing");
}

TEST(ProfileJson, RefusesASchemaVersionThisBuildDoesNotRead) {
    expect_read_error(mutated([](Json& d) { d["schema_version"] = 3; }), "schema_version",
                      "profile field is 3; this build reads versions 1 to 2");
    // The version is checked before fields whose meaning it may change.
    expect_read_error(mutated([](Json& d) {
                          d["schema_version"] = 3;
                          d.erase("attributes");
                      }),
                      "schema_version", "profile field is 3; this build reads versions 1 to 2");
}

TEST(ProfileJson, RefusesInputThatIsNotAJsonObject) {
    Error not_json = read_error("{\"schema_version\": 1,");
    EXPECT_EQ(not_json.code, ErrorCode::invalid_input);
    EXPECT_EQ(not_json.file, kFile);
    EXPECT_EQ(not_json.field, "");
    EXPECT_EQ(not_json.message, "not valid JSON (is this a profile?)");

    Error not_object = read_error("[1, 2]");
    EXPECT_EQ(not_object.code, ErrorCode::invalid_input);
    EXPECT_EQ(not_object.field, "");
    EXPECT_EQ(not_object.message, "not a JSON object (is this a profile?)");
}

TEST(ProfileJson, SchemaRejectsAMutatedDocumentAtTheFieldPath) {
    expect_schema_error(mutated([](Json& d) { d["hypotheses"][1]["accuracy"] = 1.5; }),
                        "hypotheses[1].accuracy", "1.5 is above the maximum 1");
    expect_schema_error(mutated([](Json& d) { d["notes"] = "free text"; }), "notes",
                        "unknown property");
    expect_schema_error(mutated([](Json& d) { d["demonstrations"][0]["sha256"] = "abc"; }),
                        "demonstrations[0].sha256", "has 3 characters, at least 64 required");
    expect_schema_error(mutated([](Json& d) { d["provenance"].erase("created_at"); }),
                        "provenance.created_at", "missing required property");
    expect_schema_error(mutated([](Json& d) { d["provenance"]["seed"] = -1; }), "provenance.seed",
                        "-1 is below the minimum 0");
    expect_schema_error(mutated([](Json& d) { d["provenance"]["parameters"]["top_k"] = {40}; }),
                        "provenance.parameters.top_k",
                        "expected number, boolean or string, got array");
    expect_schema_error(mutated([](Json& d) { d["provenance"]["prompt_versions"]["x"] = 1; }),
                        "provenance.prompt_versions.x", "expected string, got number");
    expect_schema_error(mutated([](Json& d) { d["provenance"]["spend"]["predict"]["extra"] = 1; }),
                        "provenance.spend.predict.extra", "unknown property");
    expect_schema_error(mutated([](Json& d) { d["schema_version"] = 0; }), "schema_version",
                        "0 is below the minimum 1");
    expect_schema_error(mutated([](Json& d) { d["history"][0]["kind"] = "edited"; }),
                        "history[0].kind",
                        "is not one of the allowed values \"added\", \"dropped\", \"rejected\", "
                        "\"duplicate\", \"pinned\", \"unpinned\", \"removed_by_person\", "
                        "\"added_by_person\"");
}

}  // namespace
}  // namespace hyperalign
