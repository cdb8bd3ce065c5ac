#include "hyperalign/llm/json_schema.hpp"

#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "llm/json_schema_detail.hpp"

namespace hyperalign::llm {
namespace {

using detail::SchemaType;

// The shape hyperalign asks a model for when it proposes hypotheses about a person's style.
constexpr std::string_view kHypothesesSchema = R"({
  "title": "Hypotheses",
  "type": "object",
  "properties": {
    "hypotheses": {"type": "array", "items": {"type": "string", "maxLength": 200},
                   "maxItems": 5, "description": "one claim per item"},
    "answer": {"enum": ["A", "B"]},
    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    "final": {"type": "boolean"}
  },
  "required": ["hypotheses", "answer"],
  "additionalProperties": false
})";

constexpr std::string_view kCharRule =
    R"(char ::= [^"\\\x00-\x1F\x7F-\x9F] | "\\" (["\\/bfnrt] | "u" ([0-9a-cA-CeEfF] )"
    R"([0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2})))"
    "\n";
constexpr std::string_view kIntegerRules = R"(integer ::= "-"? nonnegative-integer)"
                                           "\n"
                                           R"(nonnegative-integer ::= "0" | [1-9] [0-9]{0,15})"
                                           "\n";

// The error parse() returns, or an internal error saying it succeeded.
Error parse_error(std::string_view schema_json) {
    auto schema = JsonSchema::parse(schema_json);
    if (schema.ok())
        return make_error(ErrorCode::internal, "parse succeeded");
    return schema.error();
}

// The error validate() returns, or an internal error saying the document passed.
Error validate_error(std::string_view schema_json, std::string_view instance_json) {
    auto schema = JsonSchema::parse(schema_json);
    if (!schema.ok())
        return make_error(ErrorCode::internal, "schema failed: " + schema.error().describe());
    Status status = schema->validate(instance_json);
    if (status.ok())
        return make_error(ErrorCode::internal, "document passed");
    return status.error();
}

std::string gbnf(std::string_view schema_json) {
    auto schema = JsonSchema::parse(schema_json);
    return schema.ok() ? schema->to_gbnf() : "parse failed: " + schema.error().describe();
}

void expect_error(const Error& error, ErrorCode code, std::string_view field,
                  std::string_view message) {
    EXPECT_EQ(to_string(error.code), to_string(code));
    EXPECT_EQ(error.field, field);
    EXPECT_EQ(error.message, message);
}

TEST(JsonSchemaParse, KeepsTheTextVerbatimAndReparsesToTheSameGrammar) {
    auto schema = JsonSchema::parse(kHypothesesSchema);
    ASSERT_TRUE(schema.ok()) << schema.error().describe();
    EXPECT_EQ(schema->text(), kHypothesesSchema);

    auto again = JsonSchema::parse(schema->text());
    ASSERT_TRUE(again.ok()) << again.error().describe();
    EXPECT_EQ(again->to_gbnf(), schema->to_gbnf());
    EXPECT_EQ(again->text(), schema->text());
}

TEST(JsonSchemaParse, BuildsTheTreeWithPropertiesInSchemaOrder) {
    auto schema = JsonSchema::parse(kHypothesesSchema);
    ASSERT_TRUE(schema.ok()) << schema.error().describe();
    const detail::SchemaNode& root = schema->root();

    EXPECT_EQ(root.type, SchemaType::object);
    EXPECT_EQ(root.title, "Hypotheses");
    ASSERT_EQ(root.properties.size(), 4u);
    EXPECT_EQ(root.properties[0].name, "hypotheses");
    EXPECT_EQ(root.properties[1].name, "answer");
    EXPECT_EQ(root.properties[2].name, "confidence");
    EXPECT_EQ(root.properties[3].name, "final");
    EXPECT_TRUE(root.properties[0].required);
    EXPECT_TRUE(root.properties[1].required);
    EXPECT_FALSE(root.properties[2].required);
    EXPECT_FALSE(root.properties[3].required);

    const auto& hypotheses = root.properties[0].schema;
    EXPECT_EQ(hypotheses.type, SchemaType::array);
    EXPECT_EQ(hypotheses.description, "one claim per item");
    EXPECT_EQ(hypotheses.min_items, 0u);
    EXPECT_EQ(hypotheses.max_items, 5u);
    ASSERT_NE(hypotheses.items, nullptr);
    EXPECT_EQ(hypotheses.items->type, SchemaType::string);
    EXPECT_EQ(hypotheses.items->max_length, 200u);

    const auto& answer = root.properties[1].schema;
    EXPECT_EQ(answer.type, SchemaType::string);
    EXPECT_EQ(answer.enum_values, (std::vector<std::string>{"A", "B"}));

    const auto& confidence = root.properties[2].schema;
    EXPECT_EQ(confidence.type, SchemaType::number);
    EXPECT_EQ(confidence.minimum, 0.0);
    EXPECT_EQ(confidence.maximum, 1.0);
    EXPECT_EQ(root.properties[3].schema.type, SchemaType::boolean);
}

TEST(JsonSchemaParse, RejectsUnsupportedKeywordsAtTheirPath) {
    expect_error(parse_error(R"({"$ref": "#/defs/x"})"), ErrorCode::invalid_input, "$ref",
                 R"(unsupported keyword "$ref")");
    expect_error(parse_error(R"({"type": "object", "$ref": "#/defs/x"})"), ErrorCode::invalid_input,
                 "$ref", R"(unsupported keyword "$ref")");
    expect_error(
        parse_error(R"({"type": "object", "properties": {"x": {"type": "string", "oneOf": []}}})"),
        ErrorCode::invalid_input, "properties.x.oneOf", R"(unsupported keyword "oneOf")");
    expect_error(parse_error(R"({"type": "object", "properties": {"tags": {"type": "array",
                                "items": {"type": "string", "pattern": "^a"}}}})"),
                 ErrorCode::invalid_input, "properties.tags.items.pattern",
                 R"(unsupported keyword "pattern")");
    expect_error(parse_error(R"({"type": "object", "properties": {"x": {"type": ["string",
                                "null"]}}})"),
                 ErrorCode::invalid_input, "properties.x.type[1]", R"(unsupported type "null")");
    expect_error(parse_error(R"({"type": "null"})"), ErrorCode::invalid_input, "type",
                 R"(unsupported type "null")");
    expect_error(parse_error(R"({"description": "no type"})"), ErrorCode::invalid_input, "type",
                 R"(missing "type")");
}

TEST(JsonSchemaParse, RejectsAKeywordOfAnotherType) {
    expect_error(parse_error(R"({"type": "object", "properties": {"n": {"type": "integer",
                                "maxLength": 3}}})"),
                 ErrorCode::invalid_input, "properties.n.maxLength",
                 R"("maxLength" does not apply to type integer)");
    expect_error(parse_error(R"({"type": "integer", "enum": ["1"]})"), ErrorCode::invalid_input,
                 "enum", R"("enum" does not apply to type integer)");
}

TEST(JsonSchemaParse, RejectsInconsistentOrMalformedConstraints) {
    expect_error(parse_error(R"({"type": "object", "properties": {"a": {"type": "string"}},
                                "required": ["a", "b"]})"),
                 ErrorCode::invalid_input, "required[1]",
                 R"(names no property listed in "properties")");
    expect_error(parse_error(R"({"type": "object", "additionalProperties": true})"),
                 ErrorCode::invalid_input, "additionalProperties",
                 R"("additionalProperties" must be false or a schema (true is not supported: )"
                 R"(name the type that unlisted properties may have))");
    expect_error(parse_error(R"({"type": "array", "items": {"type": "string"}, "minItems": 3,
                                "maxItems": 2})"),
                 ErrorCode::invalid_input, "minItems", R"("minItems" is greater than "maxItems")");
    expect_error(parse_error(R"({"type": "string", "maxLength": -1})"), ErrorCode::invalid_input,
                 "maxLength", R"("maxLength" must be a non-negative integer)");
    expect_error(parse_error(R"({"type": "array"})"), ErrorCode::invalid_input, "items",
                 R"(missing "items")");
    expect_error(parse_error(R"({"enum": ["A", 2]})"), ErrorCode::invalid_input, "enum[1]",
                 "enum values must be strings");
    expect_error(parse_error(R"({"type": "string", "maxLength": 2, "enum": ["ab", "abc"]})"),
                 ErrorCode::invalid_input, "enum[1]",
                 R"(enum value violates "minLength" or "maxLength")");
    expect_error(parse_error(R"({"type": "number", "minimum": 2, "maximum": 1})"),
                 ErrorCode::invalid_input, "minimum", R"("minimum" is greater than "maximum")");
    expect_error(parse_error(R"({"type": "integer", "minimum": 1.2, "maximum": 1.8})"),
                 ErrorCode::invalid_input, "minimum",
                 R"(no integer lies between "minimum" and "maximum")");
    expect_error(parse_error(R"({"type": "object", "properties": {"a.b": []}})"),
                 ErrorCode::invalid_input, R"(properties["a.b"])",
                 "a schema must be a JSON object");
}

TEST(JsonSchemaParse, ReadsAnAdditionalPropertiesSchemaAsTheTypeOfUnlistedProperties) {
    auto schema = JsonSchema::parse(R"({"type": "object", "properties": {"n": {"type": "integer"}},
                                        "additionalProperties": {"type": "string",
                                                                 "maxLength": 4}})");
    ASSERT_TRUE(schema.ok()) << schema.error().describe();
    const auto& extra = schema->root().additional_properties;
    ASSERT_NE(extra, nullptr);
    EXPECT_EQ(extra->type, SchemaType::string);
    EXPECT_EQ(extra->max_length, 4u);

    auto closed = JsonSchema::parse(R"({"type": "object", "additionalProperties": false})");
    ASSERT_TRUE(closed.ok()) << closed.error().describe();
    EXPECT_EQ(closed->root().additional_properties, nullptr);

    expect_error(parse_error(R"({"type": "object", "additionalProperties": {"type": "object",
                                "properties": {"x": {"type": "date"}}}})"),
                 ErrorCode::invalid_input, "additionalProperties.properties.x.type",
                 R"(unsupported type "date")");
    expect_error(parse_error(R"({"type": "object", "additionalProperties": "string"})"),
                 ErrorCode::invalid_input, "additionalProperties",
                 R"("additionalProperties" must be false or a schema (true is not supported: )"
                 R"(name the type that unlisted properties may have))");
    expect_error(parse_error(R"({"type": "object", "additionalProperties": {"type": "string"},
                                "required": ["free"]})"),
                 ErrorCode::invalid_input, "required[0]",
                 R"(names no property listed in "properties")");
}

TEST(JsonSchemaParse, ReadsAUnionOfScalarTypesWithNoOtherKeyword) {
    auto schema = JsonSchema::parse(R"({"type": ["number", "boolean", "string"],
                                        "description": "a parameter's value"})");
    ASSERT_TRUE(schema.ok()) << schema.error().describe();
    EXPECT_EQ(
        schema->root().union_types,
        (std::vector<SchemaType>{SchemaType::number, SchemaType::boolean, SchemaType::string}));
    EXPECT_EQ(schema->root().type, SchemaType::number);
    EXPECT_EQ(schema->root().description, "a parameter's value");

    expect_error(parse_error(R"({"type": ["string", "array"], "items": {"type": "string"}})"),
                 ErrorCode::invalid_input, "type[1]",
                 "a type union may only name string, integer, number and boolean");
    expect_error(parse_error(R"({"type": ["string", "integer", "string"]})"),
                 ErrorCode::invalid_input, "type[2]", "names a type twice");
    expect_error(parse_error(R"({"type": []})"), ErrorCode::invalid_input, "type",
                 "a type union must name at least one type");
    expect_error(parse_error(R"({"type": ["string", 1]})"), ErrorCode::invalid_input, "type[1]",
                 "a type name must be a string");
    expect_error(parse_error(R"({"type": ["string", "integer"], "maxLength": 3})"),
                 ErrorCode::invalid_input, "maxLength",
                 R"("maxLength" does not apply to a type union)");
}

TEST(JsonSchemaParse, RejectsTextThatIsNotJson) {
    Error error = parse_error(R"({"type": "object",)");
    EXPECT_EQ(error.code, ErrorCode::invalid_input);
    EXPECT_EQ(error.message.rfind("the schema is not valid JSON: ", 0), 0u) << error.message;
}

TEST(JsonSchemaParse, RejectsSchemasNestedDeeperThanTheLimit) {
    std::string deep = R"({"type": "string"})";
    for (int i = 0; i < 40; ++i)
        deep = R"({"type": "array", "items": )" + deep + "}";
    EXPECT_EQ(parse_error(deep).code, ErrorCode::invalid_input);
}

TEST(JsonSchemaValidate, AcceptsAConformingDocumentWithAnyWhitespace) {
    auto schema = JsonSchema::parse(kHypothesesSchema);
    ASSERT_TRUE(schema.ok()) << schema.error().describe();
    Status status = schema->validate(
        "{\n  \"answer\" : \"B\",\n\t\"hypotheses\": [ \"short\", \"caf\xC3\xA9\" ],"
        " \"confidence\": 0.75, \"final\": true }\n");
    EXPECT_TRUE(status.ok()) << status.error().describe();
}

TEST(JsonSchemaValidate, ReportsInvalidJsonWithoutQuotingTheReply) {
    Error error = validate_error(kHypothesesSchema, R"({"hypotheses": [secret]})");
    EXPECT_EQ(error.code, ErrorCode::bad_model_output);
    EXPECT_EQ(error.field, "");
    EXPECT_EQ(error.message,
              "the reply is not valid JSON: [json.exception.parse_error.101] parse error at line "
              "1, column 17: syntax error while parsing value - invalid literal");
}

TEST(JsonSchemaValidate, ReportsAWrongTypeAtTheItemPath) {
    expect_error(
        validate_error(kHypothesesSchema, R"({"hypotheses": ["a", "b", 3], "answer": "A"})"),
        ErrorCode::bad_model_output, "hypotheses[2]", "expected string, got number");
    expect_error(validate_error(kHypothesesSchema, R"(["A"])"), ErrorCode::bad_model_output, "",
                 "expected object, got array");
    expect_error(validate_error(kHypothesesSchema, R"({"hypotheses": [], "answer": "A",
                                                       "final": "yes"})"),
                 ErrorCode::bad_model_output, "final", "expected boolean, got string");
}

TEST(JsonSchemaValidate, ReportsItemCountsOutsideTheBounds) {
    expect_error(validate_error(kHypothesesSchema, R"({"hypotheses": ["1", "2", "3", "4", "5", "6",
                                                       "7"], "answer": "A"})"),
                 ErrorCode::bad_model_output, "hypotheses", "has 7 items, at most 5 allowed");
    expect_error(
        validate_error(R"({"type": "array", "items": {"type": "integer"}, "minItems": 2})", "[1]"),
        ErrorCode::bad_model_output, "", "has 1 item, at least 2 required");
}

TEST(JsonSchemaValidate, ReportsMissingAndUnknownPropertiesAtTheirPath) {
    constexpr std::string_view schema = R"({"type": "object", "properties": {
        "attributes": {"type": "object", "properties": {"style": {"type": "string"},
                                                         "tone": {"type": "string"}},
                       "required": ["style"]}}, "required": ["attributes"]})";
    expect_error(validate_error(schema, R"({"attributes": {"tone": "dry"}})"),
                 ErrorCode::bad_model_output, "attributes.style", "missing required property");
    expect_error(validate_error(schema, R"({"attributes": {"style": "x", "mood": "y"}})"),
                 ErrorCode::bad_model_output, "attributes.mood", "unknown property");
    expect_error(validate_error(schema, R"({})"), ErrorCode::bad_model_output, "attributes",
                 "missing required property");
    expect_error(validate_error(schema, R"({"attributes": {"style": "x"}, "a.b": 1})"),
                 ErrorCode::bad_model_output, R"(["a.b"])", "unknown property");
}

TEST(JsonSchemaValidate, ChecksUnlistedPropertiesAgainstTheAdditionalPropertiesSchema) {
    constexpr std::string_view schema = R"({"type": "object", "properties": {
        "spend": {"type": "object", "additionalProperties": {"type": "object",
            "properties": {"calls": {"type": "integer", "minimum": 0}}, "required": ["calls"]}},
        "name": {"type": "string"}}, "required": ["spend"], "additionalProperties": false})";
    EXPECT_EQ(validate_error(schema, R"({"spend": {}})").message, "document passed");
    EXPECT_EQ(validate_error(schema, R"({"spend": {"judge": {"calls": 2}, "a.b": {"calls": 0}},
                                        "name": "x"})")
                  .message,
              "document passed");

    expect_error(validate_error(schema, R"({"spend": {"judge": {"calls": -1}}})"),
                 ErrorCode::bad_model_output, "spend.judge.calls", "-1 is below the minimum 0");
    expect_error(validate_error(schema, R"({"spend": {"a.b": {}}})"), ErrorCode::bad_model_output,
                 R"(spend["a.b"].calls)", "missing required property");
    expect_error(validate_error(schema, R"({"spend": {"judge": []}})"), ErrorCode::bad_model_output,
                 "spend.judge", "expected object, got array");
    // A listed property keeps its own schema; false still closes the object.
    expect_error(validate_error(schema, R"({"spend": {}, "name": 3})"), ErrorCode::bad_model_output,
                 "name", "expected string, got number");
    expect_error(validate_error(schema, R"({"spend": {}, "extra": 3})"),
                 ErrorCode::bad_model_output, "extra", "unknown property");
}

TEST(JsonSchemaValidate, AcceptsAnyTypeOfAUnionAndNamesThemAllOtherwise) {
    constexpr std::string_view schema = R"({"type": "object", "additionalProperties": {
        "type": ["number", "boolean", "string"]}})";
    EXPECT_EQ(
        validate_error(schema, R"({"alpha": 0.5, "top_k": 40, "base": true, "c": "x"})").message,
        "document passed");
    expect_error(validate_error(schema, R"({"alpha": 0.5, "list": [1]})"),
                 ErrorCode::bad_model_output, "list",
                 "expected number, boolean or string, got array");
    expect_error(validate_error(schema, R"({"none": null})"), ErrorCode::bad_model_output, "none",
                 "expected number, boolean or string, got null");
    expect_error(validate_error(R"({"type": ["integer", "boolean"]})", "1.5"),
                 ErrorCode::bad_model_output, "", "expected integer or boolean, got number");
}

TEST(JsonSchemaValidate, CountsStringLengthInCodePoints) {
    constexpr std::string_view schema = R"({"type": "string", "minLength": 2, "maxLength": 3})";
    // Three two-byte characters: six bytes, three code points.
    EXPECT_EQ(validate_error(schema, "\"\xC3\xA9\xC3\xA9\xC3\xA9\"").message, "document passed");
    expect_error(validate_error(schema, "\"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\""),
                 ErrorCode::bad_model_output, "", "has 4 characters, at most 3 allowed");
    expect_error(validate_error(schema, R"("\u00e9")"), ErrorCode::bad_model_output, "",
                 "has 1 character, at least 2 required");
}

TEST(JsonSchemaValidate, ReportsAValueOutsideTheEnumWithoutQuotingIt) {
    expect_error(validate_error(kHypothesesSchema, R"({"hypotheses": [], "answer": "C"})"),
                 ErrorCode::bad_model_output, "answer",
                 R"(is not one of the allowed values "A", "B")");
}

TEST(JsonSchemaValidate, ChecksIntegersAndNumberBounds) {
    constexpr std::string_view schema = R"({"type": "object", "properties": {
        "n": {"type": "integer", "minimum": 1, "maximum": 10}}})";
    EXPECT_EQ(validate_error(schema, R"({"n": 2.0})").message, "document passed");
    expect_error(validate_error(schema, R"({"n": 2.5})"), ErrorCode::bad_model_output, "n",
                 "expected integer, got number");
    expect_error(validate_error(schema, R"({"n": 11})"), ErrorCode::bad_model_output, "n",
                 "11 is above the maximum 10");
    expect_error(validate_error(schema, R"({"n": 0})"), ErrorCode::bad_model_output, "n",
                 "0 is below the minimum 1");
    expect_error(validate_error(kHypothesesSchema, R"({"hypotheses": [], "answer": "A",
                                                       "confidence": 1.5})"),
                 ErrorCode::bad_model_output, "confidence", "1.5 is above the maximum 1");
    EXPECT_EQ(validate_error(schema, R"({"n": 1e999})").code, ErrorCode::bad_model_output);
}

TEST(JsonSchemaValidate, ValidateJsonPrefixesTheGivenPath) {
    auto schema = JsonSchema::parse(R"({"type": "array", "items": {"type": "boolean"}})");
    ASSERT_TRUE(schema.ok()) << schema.error().describe();
    Status status =
        detail::validate_json(schema->root(), nlohmann::json::parse("[true, 1]"), "batch[4]");
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().field, "batch[4][1]");
}

TEST(JsonSchemaGbnf, WritesCompactJsonInSchemaOrderWithSharedRulesLast) {
    const std::string expected =
        R"(root ::= "{\"hypotheses\":" root-hypotheses ",\"answer\":" root-answer )"
        R"((",\"confidence\":" nonnegative-number)? (",\"final\":" boolean)? "}")"
        "\n"
        R"(root-hypotheses ::= "[" (root-hypotheses-item ("," root-hypotheses-item){0,4})? "]")"
        "\n"
        R"(root-hypotheses-item ::= "\"" char{0,200} "\"")"
        "\n"
        R"(root-answer ::= "\"A\"" | "\"B\"")"
        "\n" +
        std::string(kCharRule) +
        R"(nonnegative-number ::= nonnegative-integer ("." [0-9]{1,16})? )"
        R"(([eE] [-+]? [0-9]{1,2})?)"
        "\n"
        R"(nonnegative-integer ::= "0" | [1-9] [0-9]{0,15})"
        "\n"
        R"(boolean ::= "true" | "false")"
        "\n";
    EXPECT_EQ(gbnf(kHypothesesSchema), expected);
}

TEST(JsonSchemaGbnf, ForbidsTheMinusSignOnlyWhenTheMinimumIsNotNegative) {
    EXPECT_EQ(gbnf(R"({"type": "array", "items": {"type": "number", "minimum": -1}})"),
              R"(root ::= "[" (number ("," number)*)? "]")"
              "\n"
              R"(number ::= "-"? nonnegative-number)"
              "\n"
              R"(nonnegative-number ::= nonnegative-integer ("." [0-9]{1,16})? )"
              R"(([eE] [-+]? [0-9]{1,2})?)"
              "\n"
              R"(nonnegative-integer ::= "0" | [1-9] [0-9]{0,15})"
              "\n");
    EXPECT_EQ(gbnf(R"({"type": "integer", "minimum": 0, "maximum": 150})"),
              R"(root ::= nonnegative-integer)"
              "\n"
              R"(nonnegative-integer ::= "0" | [1-9] [0-9]{0,15})"
              "\n");
}

TEST(JsonSchemaGbnf, ListsTheValuesOfASmallIntegerRange) {
    EXPECT_EQ(gbnf(R"({"type": "object", "properties": {"score": {"type": "integer",
                       "minimum": 0.5, "maximum": 10}}, "required": ["score"]})"),
              R"(root ::= "{\"score\":" root-score "}")"
              "\n"
              R"(root-score ::= "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "10")"
              "\n");
    // 101 values are too many to list; the sign is still constrained.
    EXPECT_EQ(gbnf(R"({"type": "integer", "minimum": 0, "maximum": 100})"),
              R"(root ::= nonnegative-integer)"
              "\n"
              R"(nonnegative-integer ::= "0" | [1-9] [0-9]{0,15})"
              "\n");
    // 100 values, from -2 to 97, are listed.
    const std::string listed = gbnf(R"({"type": "integer", "minimum": -2, "maximum": 97})");
    EXPECT_EQ(listed.substr(0, 36), R"(root ::= "-2" | "-1" | "0" | "1" | ")");
    const std::string last = R"( | "96" | "97")"
                             "\n";
    EXPECT_EQ(listed.substr(listed.size() - last.size()), last);
    size_t alternatives = 1;
    for (size_t at = listed.find(" | "); at != std::string::npos; at = listed.find(" | ", at + 1))
        ++alternatives;
    EXPECT_EQ(alternatives, 100u);
}

TEST(JsonSchemaGbnf, LetsEachLeadingOptionalPropertyOpenTheObject) {
    const std::string expected =
        R"(root ::= "{" ("\"a\":" integer (",\"b\":" string)? ",\"c\":" root-c | )"
        R"("\"b\":" string ",\"c\":" root-c | "\"c\":" root-c) "}")"
        "\n"
        R"(root-c ::= "\"" char{2,} "\"")"
        "\n"
        R"(string ::= "\"" char* "\"")"
        "\n" +
        std::string(kCharRule) + std::string(kIntegerRules);
    EXPECT_EQ(gbnf(R"({"type": "object", "properties": {"a": {"type": "integer"},
                       "b": {"type": "string"}, "c": {"type": "string", "minLength": 2}},
                       "required": ["c"]})"),
              expected);
}

TEST(JsonSchemaGbnf, MakesAnObjectWithoutRequiredPropertiesOptionalAsAWhole) {
    EXPECT_EQ(gbnf(R"({"type": "object", "properties": {"x y": {"type": "boolean"},
                       "z": {"type": "boolean"}}})"),
              R"(root ::= "{" ("\"x y\":" boolean (",\"z\":" boolean)? | "\"z\":" boolean)? "}")"
              "\n"
              R"(boolean ::= "true" | "false")"
              "\n");
    EXPECT_EQ(gbnf(R"({"type": "object"})"), "root ::= \"{}\"\n");
}

TEST(JsonSchemaGbnf, LetsAMapHoldAnyNumberOfEntries) {
    EXPECT_EQ(gbnf(R"({"type": "object", "additionalProperties": {"type": "integer",
                       "minimum": 0}})"),
              R"(root ::= "{" (root-entry ("," root-entry)*)? "}")"
              "\n"
              R"(root-entry ::= string ":" nonnegative-integer)"
              "\n"
              R"(string ::= "\"" char* "\"")"
              "\n" +
                  std::string(kCharRule) +
                  R"(nonnegative-integer ::= "0" | [1-9] [0-9]{0,15})"
                  "\n");
}

TEST(JsonSchemaGbnf, WritesOnlyTheListedPropertiesOfAnObjectThatAlsoAllowsOthers) {
    EXPECT_EQ(gbnf(R"({"type": "object", "properties": {"a": {"type": "boolean"}},
                       "required": ["a"], "additionalProperties": {"type": "string"}})"),
              R"(root ::= "{\"a\":" boolean "}")"
              "\n"
              R"(boolean ::= "true" | "false")"
              "\n");
}

TEST(JsonSchemaGbnf, GivesAUnionItsOwnRuleOfAlternatives) {
    EXPECT_EQ(gbnf(R"({"type": "array", "items": {"type": ["integer", "boolean"]}})"),
              R"(root ::= "[" (root-item ("," root-item)*)? "]")"
              "\n"
              R"(root-item ::= integer | boolean)"
              "\n" +
                  std::string(kIntegerRules) +
                  R"(boolean ::= "true" | "false")"
                  "\n");
}

TEST(JsonSchemaGbnf, TurnsItemAndLengthBoundsIntoRepetitions) {
    EXPECT_EQ(gbnf(R"({"type": "array", "items": {"type": "integer"}, "minItems": 2,
                       "maxItems": 5})"),
              R"(root ::= "[" integer ("," integer){1,4} "]")"
              "\n" +
                  std::string(kIntegerRules));
    EXPECT_EQ(gbnf(R"({"type": "array", "items": {"type": "boolean"}, "minItems": 1})"),
              R"(root ::= "[" boolean ("," boolean)* "]")"
              "\n"
              R"(boolean ::= "true" | "false")"
              "\n");
    EXPECT_EQ(gbnf(R"({"type": "array", "items": {"type": "boolean"}, "maxItems": 0})"),
              "root ::= \"[]\"\n");
    EXPECT_EQ(gbnf(R"({"type": "string", "minLength": 3, "maxLength": 3})"),
              R"(root ::= "\"" char{3} "\"")"
              "\n" +
                  std::string(kCharRule));
}

TEST(JsonSchemaGbnf, LeavesBoundsAboveTheGrammarLimitOpen) {
    // llama.cpp refuses repetition counts of 2000 and more; validate() still enforces these.
    EXPECT_EQ(gbnf(R"({"type": "string", "maxLength": 5000})"), R"(root ::= "\"" char* "\"")"
                                                                "\n" +
                                                                    std::string(kCharRule));
    EXPECT_EQ(gbnf(R"({"type": "string", "minLength": 3000})"), R"(root ::= "\"" char{1000,} "\"")"
                                                                "\n" +
                                                                    std::string(kCharRule));
}

TEST(JsonSchemaGbnf, EscapesEnumValuesAndNamesRulesAfterSanitizedProperties) {
    EXPECT_EQ(gbnf(R"({"type": "object", "properties": {"say it": {"enum": ["say \"hi\"",
                       "caf\u00e9"]}}, "required": ["say it"]})"),
              R"(root ::= "{\"say it\":" root-say-it "}")"
              "\n"
              R"(root-say-it ::= "\"say \\\"hi\\\"\"" | "\"caf)"
              "\xC3\xA9"
              R"(\"")"
              "\n");
}

}  // namespace
}  // namespace hyperalign::llm
