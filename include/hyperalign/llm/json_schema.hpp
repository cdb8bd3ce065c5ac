#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "hyperalign/core/result.hpp"

namespace hyperalign::llm {

namespace detail {
struct SchemaNode;
}

// The subset of JSON Schema that hyperalign asks models for and checks documents against:
//   type: object (properties, required, additionalProperties), array (items, minItems,
//   maxItems), string (minLength, maxLength, enum), integer and number (minimum, maximum),
//   boolean; `enum` of strings, with or without "type": "string"; a union of scalar types
//   ("type": ["number", "boolean", "string"]), which constrains nothing but the type and takes
//   no keyword besides; "title" and "description" anywhere (annotations only).
// "additionalProperties" is false (the default: unlisted properties are rejected) or a schema
// that every unlisted property must match, which makes the object a map; true is rejected, as
// is a "required" name not listed in "properties". Anything outside the subset ("$ref",
// "oneOf", "pattern", "null", ...) is rejected when parsing, so a schema never silently means
// less than it says. String lengths count Unicode code points.
//
// Example:
//   auto schema = JsonSchema::parse(R"({"type":"object","properties":{"answer":{"enum":["A","B"]}},
//                                       "required":["answer"]})");
//   if (!schema) return schema.take_error();
//   std::string grammar = schema->to_gbnf();        // for the llama.cpp grammar sampler
//   Status ok = schema->validate(reply_text);       // for any backend's reply
//
// Only parse() makes one. Thread-safe after construction; cheap to copy (the tree is shared).
class JsonSchema {
  public:
    // Parses a schema document. Fails with invalid_input whose `field` is the JSON path of the
    // offending keyword (for example "properties.answer.pattern"; "" for the document itself).
    static Result<JsonSchema> parse(std::string_view schema_json);

    // A llama.cpp GBNF grammar (root rule "root") for compact JSON (no whitespace) with
    // properties in schema order, required ones always present. It accepts no document that
    // validate() rejects, with two exceptions: it leaves length and item bounds above 1000
    // open, and of minimum and maximum it enforces only a minimum of 0 or more (no minus sign)
    // and integer ranges of at most 100 values (listed). It accepts fewer documents than
    // validate() does: compact form, one spelling of each enum value and key, numbers of at
    // most 16 digits before and after the point, and for an object with both listed properties
    // and an additionalProperties schema, the listed properties alone. A map (no listed
    // properties) takes any number of entries, a union any of its types.
    // Unbounded strings, arrays and maps let a model run until its token budget, so give
    // model-facing schemas maxLength and maxItems, and ask for lists rather than maps.
    std::string to_gbnf() const;

    // Checks a JSON document (any whitespace) against the schema. Fails with bad_model_output:
    // for invalid JSON, with the parser's message; otherwise with `field` set to the JSON path
    // of the first violation ("hypotheses[2]", "attributes.style"; "" for the document itself)
    // and a message saying what is wrong. Messages never quote the document's string values
    // (they may hold a person's text).
    Status validate(std::string_view instance_json) const;

    // The schema document exactly as given to parse().
    const std::string& text() const { return text_; }

    // Internal: the parsed tree, for src/ only (src/llm/json_schema_detail.hpp).
    const detail::SchemaNode& root() const { return *root_; }

  private:
    JsonSchema() = default;

    std::shared_ptr<const detail::SchemaNode> root_;
    std::string text_;
};

}  // namespace hyperalign::llm
