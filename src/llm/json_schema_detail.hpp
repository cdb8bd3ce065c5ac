#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "hyperalign/core/result.hpp"

namespace hyperalign::llm::detail {

enum class SchemaType { object, array, string, integer, number, boolean };

struct SchemaProperty;

// One node of a parsed JsonSchema. Only the fields of `type` are meaningful; parse() leaves the
// others at their defaults. Immutable once JsonSchema::parse has built it.
struct SchemaNode {
    // For a union, the first of `union_types`.
    SchemaType type = SchemaType::string;

    // A union ("type": ["number", "string"]): the scalar types a value may have, in schema
    // order, and nothing else constrains the value. Empty when "type" names one type.
    std::vector<SchemaType> union_types;

    // Annotations, kept so that prompt code can show them to a model; they never constrain.
    std::string title;
    std::string description;

    // object: in schema order. Properties not listed here must match `additional_properties`
    // or, when it is null, are not allowed.
    std::vector<SchemaProperty> properties;
    std::shared_ptr<const SchemaNode> additional_properties;

    // array: `items` is never null for an array node.
    std::shared_ptr<const SchemaNode> items;
    std::size_t min_items = 0;
    std::optional<std::size_t> max_items;

    // string: lengths count Unicode code points. An empty `enum_values` allows any string;
    // otherwise every value already satisfies the length bounds (parse checks this).
    std::size_t min_length = 0;
    std::optional<std::size_t> max_length;
    std::vector<std::string> enum_values;

    // integer and number: inclusive bounds.
    std::optional<double> minimum;
    std::optional<double> maximum;
};

struct SchemaProperty {
    std::string name;
    bool required = false;
    SchemaNode schema;
};

// The name JSON Schema uses for `type` ("object", "integer", ...).
const char* to_string(SchemaType type);

// Checks already-parsed JSON against `node`. `path` is the JSON path of `instance` inside the
// document ("" for the document itself); errors extend it with ".name" and "[index]" (a name
// that is empty or holds '.', '[', ']' or '"' is written ["name"]). Returns the first violation
// as bad_model_output with `field` set to its path; listed properties are checked in schema
// order, then the others in key order. Never throws.
Status validate_json(const SchemaNode& node, const nlohmann::json& instance, std::string path);

// `s` as a compact JSON string literal (the one spelling a grammar allows).
std::string json_quote(const std::string& s);

// The GBNF grammar (root rule "root") for a parsed schema; see JsonSchema::to_gbnf.
std::string to_gbnf(const SchemaNode& root);

// `path` extended by the member `name`, in the notation validate_json uses.
std::string append_member(const std::string& path, const std::string& name);

}  // namespace hyperalign::llm::detail
