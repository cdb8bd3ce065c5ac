#include "hyperalign/llm/json_schema.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <exception>
#include <set>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "llm/json_schema_detail.hpp"

namespace hyperalign::llm {

namespace detail {

const char* to_string(SchemaType type) {
    // In the order of the enumerators.
    static constexpr const char* kNames[] = {"object",  "array",  "string",
                                             "integer", "number", "boolean"};
    return kNames[static_cast<int>(type)];
}

// `s` as a compact JSON string literal: the one spelling the grammar allows. Schema strings
// are valid UTF-8 (the parser checked), so the replace handler never fires; it only rules out
// a throw.
std::string json_quote(const std::string& s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string append_member(const std::string& path, const std::string& name) {
    // Bracket notation keeps a path unambiguous when a name would read as path syntax.
    if (name.empty() || name.find_first_of(".[]\"") != std::string::npos) {
        return fmt::format("{}[\"{}\"]", path, name);
    }
    return path.empty() ? name : path + "." + name;
}

}  // namespace detail

namespace {

using detail::json_quote;
using detail::SchemaNode;
using detail::SchemaProperty;
using detail::SchemaType;
using OrderedJson = nlohmann::ordered_json;

// Schemas come from our own code and config; a deeper one is a mistake, and the limit keeps the
// recursive parser far from the stack's end.
constexpr int kMaxSchemaDepth = 32;

constexpr SchemaType kAllTypes[] = {SchemaType::object,  SchemaType::array,  SchemaType::string,
                                    SchemaType::integer, SchemaType::number, SchemaType::boolean};

std::string append_index(const std::string& path, std::size_t index) {
    return fmt::format("{}[{}]", path, index);
}

std::size_t count_code_points(std::string_view utf8) {
    std::size_t n = 0;
    for (char c : utf8) {
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80)
            ++n;
    }
    return n;
}

std::string plural(std::size_t n, const char* noun) {
    return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

// ---- parsing ------------------------------------------------------------------------------

Error schema_error(const std::string& path, std::string message) {
    Error e = make_error(ErrorCode::invalid_input, std::move(message));
    e.field = path;
    return e;
}

Result<SchemaType> type_named(const OrderedJson& name, const std::string& path) {
    if (!name.is_string())
        return schema_error(path, "a type name must be a string");
    for (SchemaType t : kAllTypes) {
        if (name.get_ref<const std::string&>() == detail::to_string(t))
            return t;
    }
    return schema_error(path,
                        fmt::format("unsupported type \"{}\"", name.get_ref<const std::string&>()));
}

Result<SchemaType> parse_type(const OrderedJson& schema, const std::string& path) {
    auto it = schema.find("type");
    if (it == schema.end()) {
        // A bare enum is the one typeless form the subset allows.
        if (schema.contains("enum"))
            return SchemaType::string;
        return schema_error(detail::append_member(path, "type"), "missing \"type\"");
    }
    return type_named(*it, detail::append_member(path, "type"));
}

// A union of scalar types. Only a value's type is checked, so that a keyword never has to be
// read as applying to some members of the union and not to others.
Status parse_union(const OrderedJson& types, const std::string& path, SchemaNode& node) {
    const std::string type_path = detail::append_member(path, "type");
    if (types.empty())
        return schema_error(type_path, "a type union must name at least one type");
    for (std::size_t i = 0; i < types.size(); ++i) {
        const std::string item_path = append_index(type_path, i);
        HA_ASSIGN_OR_RETURN(SchemaType t, type_named(types[i], item_path));
        if (t == SchemaType::object || t == SchemaType::array) {
            return schema_error(item_path,
                                "a type union may only name string, integer, number and boolean");
        }
        if (std::find(node.union_types.begin(), node.union_types.end(), t) !=
            node.union_types.end()) {
            return schema_error(item_path, "names a type twice");
        }
        node.union_types.push_back(t);
    }
    node.type = node.union_types.front();
    return {};
}

// The keywords every node may have, unions included.
bool applies_to_all(std::string_view key) {
    return key == "type" || key == "title" || key == "description";
}

bool keyword_applies(std::string_view key, SchemaType type) {
    if (applies_to_all(key))
        return true;
    switch (type) {
        case SchemaType::object:
            return key == "properties" || key == "required" || key == "additionalProperties";
        case SchemaType::array:
            return key == "items" || key == "minItems" || key == "maxItems";
        case SchemaType::string:
            return key == "minLength" || key == "maxLength" || key == "enum";
        case SchemaType::integer:
        case SchemaType::number:
            return key == "minimum" || key == "maximum";
        case SchemaType::boolean:
            return false;
    }
    return false;
}

bool in_subset(std::string_view key) {
    for (SchemaType t : kAllTypes) {
        if (keyword_applies(key, t))
            return true;
    }
    return false;
}

// Names the first keyword outside the subset. Runs before the type is read, so that a schema
// made of "$ref" or "oneOf" is reported as such rather than as lacking a type.
Status check_supported(const OrderedJson& schema, const std::string& path) {
    for (const auto& [key, value] : schema.items()) {
        if (!in_subset(key)) {
            return schema_error(detail::append_member(path, key),
                                fmt::format("unsupported keyword \"{}\"", key));
        }
    }
    return {};
}

// Names the first keyword of the subset that `node` (its type or union already read) cannot
// have.
Status check_applicable(const OrderedJson& schema, const SchemaNode& node,
                        const std::string& path) {
    const bool is_union = !node.union_types.empty();
    for (const auto& [key, value] : schema.items()) {
        if (is_union ? applies_to_all(key) : keyword_applies(key, node.type))
            continue;
        const std::string what = is_union ? std::string("a type union")
                                          : fmt::format("type {}", detail::to_string(node.type));
        return schema_error(detail::append_member(path, key),
                            fmt::format("\"{}\" does not apply to {}", key, what));
    }
    return {};
}

Result<std::optional<std::size_t>> parse_count(const OrderedJson& schema, const char* key,
                                               const std::string& path) {
    auto it = schema.find(key);
    if (it == schema.end())
        return std::optional<std::size_t>();
    if (!it->is_number_unsigned()) {
        return schema_error(detail::append_member(path, key),
                            fmt::format("\"{}\" must be a non-negative integer", key));
    }
    return std::optional<std::size_t>(it->get<std::uint64_t>());
}

Result<std::optional<double>> parse_bound(const OrderedJson& schema, const char* key,
                                          const std::string& path) {
    auto it = schema.find(key);
    if (it == schema.end())
        return std::optional<double>();
    if (!it->is_number()) {
        return schema_error(detail::append_member(path, key),
                            fmt::format("\"{}\" must be a number", key));
    }
    return std::optional<double>(it->get<double>());
}

Result<SchemaNode> parse_node(const OrderedJson& schema, const std::string& path, int depth);

Status parse_object(const OrderedJson& schema, const std::string& path, int depth,
                    SchemaNode& node) {
    auto props = schema.find("properties");
    const std::string props_path = detail::append_member(path, "properties");
    if (props != schema.end() && !props->is_object()) {
        return schema_error(props_path, "\"properties\" must be an object");
    }
    if (props != schema.end()) {
        for (const auto& [name, sub] : props->items()) {
            HA_ASSIGN_OR_RETURN(SchemaNode child,
                                parse_node(sub, detail::append_member(props_path, name), depth));
            node.properties.push_back(SchemaProperty{name, false, std::move(child)});
        }
    }

    if (auto it = schema.find("required"); it != schema.end()) {
        const std::string req_path = detail::append_member(path, "required");
        if (!it->is_array())
            return schema_error(req_path, "\"required\" must be an array");
        for (std::size_t i = 0; i < it->size(); ++i) {
            const auto& name = (*it)[i];
            if (!name.is_string()) {
                return schema_error(append_index(req_path, i),
                                    "entries of \"required\" must be strings");
            }
            SchemaProperty* match = nullptr;
            for (auto& p : node.properties) {
                if (p.name == name.get_ref<const std::string&>())
                    match = &p;
            }
            // Kept to listed names: without additionalProperties an unlisted one could never
            // validate, and the grammar writes only listed properties next to others.
            if (match == nullptr) {
                return schema_error(append_index(req_path, i),
                                    "names no property listed in \"properties\"");
            }
            match->required = true;
        }
    }

    auto extra = schema.find("additionalProperties");
    if (extra == schema.end() || (extra->is_boolean() && !extra->get<bool>()))
        return {};
    const std::string extra_path = detail::append_member(path, "additionalProperties");
    if (!extra->is_object()) {
        return schema_error(extra_path,
                            "\"additionalProperties\" must be false or a schema (true is not "
                            "supported: name the type that unlisted properties may have)");
    }
    HA_ASSIGN_OR_RETURN(SchemaNode child, parse_node(*extra, extra_path, depth));
    node.additional_properties = std::make_shared<const SchemaNode>(std::move(child));
    return {};
}

Status parse_array(const OrderedJson& schema, const std::string& path, int depth,
                   SchemaNode& node) {
    const std::string items_path = detail::append_member(path, "items");
    auto items = schema.find("items");
    if (items == schema.end())
        return schema_error(items_path, "missing \"items\"");
    HA_ASSIGN_OR_RETURN(SchemaNode child, parse_node(*items, items_path, depth));
    node.items = std::make_shared<const SchemaNode>(std::move(child));

    HA_ASSIGN_OR_RETURN(auto min_items, parse_count(schema, "minItems", path));
    HA_ASSIGN_OR_RETURN(node.max_items, parse_count(schema, "maxItems", path));
    node.min_items = min_items.value_or(0);
    if (node.max_items && node.min_items > *node.max_items) {
        return schema_error(detail::append_member(path, "minItems"),
                            "\"minItems\" is greater than \"maxItems\"");
    }
    return {};
}

Status parse_string(const OrderedJson& schema, const std::string& path, SchemaNode& node) {
    HA_ASSIGN_OR_RETURN(auto min_length, parse_count(schema, "minLength", path));
    HA_ASSIGN_OR_RETURN(node.max_length, parse_count(schema, "maxLength", path));
    node.min_length = min_length.value_or(0);
    if (node.max_length && node.min_length > *node.max_length) {
        return schema_error(detail::append_member(path, "minLength"),
                            "\"minLength\" is greater than \"maxLength\"");
    }

    auto values = schema.find("enum");
    if (values == schema.end())
        return {};
    const std::string enum_path = detail::append_member(path, "enum");
    if (!values->is_array() || values->empty()) {
        return schema_error(enum_path, "\"enum\" must be a non-empty array of strings");
    }
    for (std::size_t i = 0; i < values->size(); ++i) {
        const auto& value = (*values)[i];
        if (!value.is_string()) {
            return schema_error(append_index(enum_path, i), "enum values must be strings");
        }
        // The grammar emits enum values verbatim, so each must also pass the length checks.
        const auto& text = value.get_ref<const std::string&>();
        std::size_t n = count_code_points(text);
        if (n < node.min_length || (node.max_length && n > *node.max_length)) {
            return schema_error(append_index(enum_path, i),
                                "enum value violates \"minLength\" or \"maxLength\"");
        }
        node.enum_values.push_back(text);
    }
    return {};
}

Status parse_numeric(const OrderedJson& schema, const std::string& path, SchemaNode& node) {
    HA_ASSIGN_OR_RETURN(node.minimum, parse_bound(schema, "minimum", path));
    HA_ASSIGN_OR_RETURN(node.maximum, parse_bound(schema, "maximum", path));
    if (node.minimum && node.maximum && *node.minimum > *node.maximum) {
        return schema_error(detail::append_member(path, "minimum"),
                            "\"minimum\" is greater than \"maximum\"");
    }
    if (node.type == SchemaType::integer && node.minimum && node.maximum &&
        std::ceil(*node.minimum) > std::floor(*node.maximum)) {
        return schema_error(detail::append_member(path, "minimum"),
                            "no integer lies between \"minimum\" and \"maximum\"");
    }
    return {};
}

Status parse_annotation(const OrderedJson& schema, const char* key, const std::string& path,
                        std::string& out) {
    auto it = schema.find(key);
    if (it == schema.end())
        return {};
    if (!it->is_string()) {
        return schema_error(detail::append_member(path, key),
                            fmt::format("\"{}\" must be a string", key));
    }
    out = it->get<std::string>();
    return {};
}

Result<SchemaNode> parse_node(const OrderedJson& schema, const std::string& path, int depth) {
    if (!schema.is_object())
        return schema_error(path, "a schema must be a JSON object");
    if (depth > kMaxSchemaDepth) {
        return schema_error(path, fmt::format("schema nested deeper than {}", kMaxSchemaDepth));
    }

    HA_TRY(check_supported(schema, path));
    SchemaNode node;
    if (auto type = schema.find("type"); type != schema.end() && type->is_array()) {
        HA_TRY(parse_union(*type, path, node));
    } else {
        HA_ASSIGN_OR_RETURN(node.type, parse_type(schema, path));
    }
    HA_TRY(check_applicable(schema, node, path));
    HA_TRY(parse_annotation(schema, "title", path, node.title));
    HA_TRY(parse_annotation(schema, "description", path, node.description));
    if (!node.union_types.empty())
        return node;

    switch (node.type) {
        case SchemaType::object:
            HA_TRY(parse_object(schema, path, depth + 1, node));
            break;
        case SchemaType::array:
            HA_TRY(parse_array(schema, path, depth + 1, node));
            break;
        case SchemaType::string:
            HA_TRY(parse_string(schema, path, node));
            break;
        case SchemaType::integer:
        case SchemaType::number:
            HA_TRY(parse_numeric(schema, path, node));
            break;
        case SchemaType::boolean:
            break;
    }
    return node;
}
// ---- validation ---------------------------------------------------------------------------

Error instance_error(const std::string& path, std::string message) {
    Error e = make_error(ErrorCode::bad_model_output, std::move(message));
    e.field = path;
    return e;
}

// "integer", or for a union "number, boolean or string".
std::string expected_types(const SchemaNode& node) {
    if (node.union_types.empty())
        return detail::to_string(node.type);
    std::string out;
    for (std::size_t i = 0; i < node.union_types.size(); ++i) {
        const char* separator = i == 0 ? "" : i + 1 == node.union_types.size() ? " or " : ", ";
        out += separator + std::string(detail::to_string(node.union_types[i]));
    }
    return out;
}

Status validate_range(const SchemaNode& node, const nlohmann::json& instance,
                      const std::string& path) {
    const double value = instance.get<double>();
    if (node.minimum && value < *node.minimum) {
        return instance_error(
            path, fmt::format("{} is below the minimum {}", instance.dump(), *node.minimum));
    }
    if (node.maximum && value > *node.maximum) {
        return instance_error(
            path, fmt::format("{} is above the maximum {}", instance.dump(), *node.maximum));
    }
    return {};
}

Status validate_string(const SchemaNode& node, const nlohmann::json& instance,
                       const std::string& path) {
    const auto& text = instance.get_ref<const std::string&>();
    const std::size_t n = count_code_points(text);
    if (n < node.min_length) {
        return instance_error(path, fmt::format("has {}, at least {} required",
                                                plural(n, "character"), node.min_length));
    }
    if (node.max_length && n > *node.max_length) {
        return instance_error(path, fmt::format("has {}, at most {} allowed",
                                                plural(n, "character"), *node.max_length));
    }
    if (node.enum_values.empty())
        return {};
    for (const auto& value : node.enum_values) {
        if (value == text)
            return {};
    }
    // The allowed values come from our schema; the model's text stays out of the message.
    std::string allowed;
    for (const auto& value : node.enum_values) {
        allowed += (allowed.empty() ? "" : ", ") + json_quote(value);
    }
    return instance_error(path, "is not one of the allowed values " + allowed);
}

Status validate_array(const SchemaNode& node, const nlohmann::json& instance,
                      const std::string& path) {
    const std::size_t n = instance.size();
    if (n < node.min_items) {
        return instance_error(
            path, fmt::format("has {}, at least {} required", plural(n, "item"), node.min_items));
    }
    if (node.max_items && n > *node.max_items) {
        return instance_error(
            path, fmt::format("has {}, at most {} allowed", plural(n, "item"), *node.max_items));
    }
    for (std::size_t i = 0; i < n; ++i) {
        HA_TRY(detail::validate_json(*node.items, instance[i], append_index(path, i)));
    }
    return {};
}

Status validate_object(const SchemaNode& node, const nlohmann::json& instance,
                       const std::string& path) {
    for (const auto& p : node.properties) {
        auto it = instance.find(p.name);
        if (it != instance.end()) {
            HA_TRY(detail::validate_json(p.schema, *it, detail::append_member(path, p.name)));
        } else if (p.required) {
            return instance_error(detail::append_member(path, p.name), "missing required property");
        }
    }
    for (const auto& [key, value] : instance.items()) {
        bool known = false;
        for (const auto& p : node.properties)
            known = known || p.name == key;
        if (known)
            continue;
        const std::string member = detail::append_member(path, key);
        if (!node.additional_properties)
            return instance_error(member, "unknown property");
        HA_TRY(detail::validate_json(*node.additional_properties, value, member));
    }
    return {};
}

bool is_integral(const nlohmann::json& instance) {
    if (instance.is_number_integer())
        return true;
    // JSON Schema counts 2.0 as an integer; models sometimes write one that way.
    if (!instance.is_number_float())
        return false;
    const double value = instance.get<double>();
    return std::isfinite(value) && std::trunc(value) == value;
}

bool has_type(SchemaType type, const nlohmann::json& instance) {
    switch (type) {
        case SchemaType::object:
            return instance.is_object();
        case SchemaType::array:
            return instance.is_array();
        case SchemaType::string:
            return instance.is_string();
        case SchemaType::integer:
            return is_integral(instance);
        case SchemaType::number:
            return instance.is_number();
        case SchemaType::boolean:
            return instance.is_boolean();
    }
    return false;
}

bool has_type(const SchemaNode& node, const nlohmann::json& instance) {
    if (node.union_types.empty())
        return has_type(node.type, instance);
    for (SchemaType t : node.union_types) {
        if (has_type(t, instance))
            return true;
    }
    return false;
}

// nlohmann's message quotes the text it stopped at ("last read: '...'"). That is model output,
// which must not reach logs above trace, so the quote is cut out.
std::string describe_parse_error(const nlohmann::json::parse_error& e) {
    std::string message = e.what();
    const std::string marker = "; last read: '";
    std::size_t start = message.find(marker);
    if (start == std::string::npos)
        return message;
    std::size_t resume = message.rfind("'; expected ");
    std::string rest =
        resume != std::string::npos && resume > start ? message.substr(resume + 1) : std::string();
    return message.substr(0, start) + rest;
}

}  // namespace

namespace detail {

Status validate_json(const SchemaNode& node, const nlohmann::json& instance, std::string path) {
    if (!has_type(node, instance)) {
        return instance_error(
            path, fmt::format("expected {}, got {}", expected_types(node), instance.type_name()));
    }
    // A union constrains nothing but the type.
    if (!node.union_types.empty())
        return {};

    switch (node.type) {
        case SchemaType::object:
            return validate_object(node, instance, path);
        case SchemaType::array:
            return validate_array(node, instance, path);
        case SchemaType::string:
            return validate_string(node, instance, path);
        case SchemaType::integer:
        case SchemaType::number:
            return validate_range(node, instance, path);
        case SchemaType::boolean:
            return {};
    }
    return make_error(ErrorCode::internal, "unknown schema node type");
}

}  // namespace detail

// ---- JsonSchema ---------------------------------------------------------------------------

Result<JsonSchema> JsonSchema::parse(std::string_view schema_json) {
    try {
        auto doc = OrderedJson::parse(schema_json);
        HA_ASSIGN_OR_RETURN(SchemaNode root, parse_node(doc, "", 0));
        JsonSchema schema;
        schema.root_ = std::make_shared<const SchemaNode>(std::move(root));
        schema.text_ = std::string(schema_json);
        return schema;
    } catch (const nlohmann::json::parse_error& e) {
        return make_error(ErrorCode::invalid_input,
                          fmt::format("the schema is not valid JSON: {}", e.what()));
    } catch (const std::exception& e) {
        return make_error(ErrorCode::internal, fmt::format("reading a schema: {}", e.what()));
    }
}

std::string JsonSchema::to_gbnf() const {
    return detail::to_gbnf(*root_);
}

Status JsonSchema::validate(std::string_view instance_json) const {
    try {
        auto doc = nlohmann::json::parse(instance_json);
        return detail::validate_json(*root_, doc, "");
    } catch (const nlohmann::json::parse_error& e) {
        return make_error(ErrorCode::bad_model_output,
                          "the reply is not valid JSON: " + describe_parse_error(e));
    } catch (const nlohmann::json::exception& e) {
        // The parser reports a number that overflows a double as out_of_range.
        return make_error(ErrorCode::bad_model_output,
                          fmt::format("the reply is not usable JSON: {}", e.what()));
    } catch (const std::exception& e) {
        return make_error(ErrorCode::internal, fmt::format("validating a reply: {}", e.what()));
    }
}

}  // namespace hyperalign::llm
