#include <cctype>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "llm/json_schema_detail.hpp"

// The GBNF grammar of a parsed schema (JsonSchema::to_gbnf), kept apart from parsing and
// validation.

namespace hyperalign::llm {
namespace {

using detail::json_quote;
using detail::SchemaNode;
using detail::SchemaProperty;
using detail::SchemaType;

// llama.cpp v0.4.0 expands x{m,n} into n rules and refuses bounds at or over 2000; the grammar
// leaves larger bounds open and validate() enforces them.
constexpr std::size_t kMaxGrammarRepeat = 1000;

// Integer ranges up to this size are written out value by value (about 6 bytes a value).
constexpr double kMaxListedIntegers = 100;

// `s` as a GBNF literal matching it byte for byte. json_quote output holds no control chars,
// so only quote and backslash need escaping; UTF-8 passes through as llama.cpp decodes it.
std::string gbnf_literal(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "\"";
}

// `item` repeated from `min` to `max` times (no max: unbounded); "" when it may only be absent.
std::string repeat(const std::string& item, std::size_t min, std::optional<std::size_t> max) {
    min = std::min(min, kMaxGrammarRepeat);
    if (max && *max > kMaxGrammarRepeat)
        max.reset();
    if (max && *max == 0)
        return "";
    if (!max) {
        if (min == 0)
            return item + "*";
        if (min == 1)
            return item + "+";
        return fmt::format("{}{{{},}}", item, min);
    }
    if (min == 0 && *max == 1)
        return item + "?";
    if (min == *max)
        return fmt::format("{}{{{}}}", item, min);
    return fmt::format("{}{{{},{}}}", item, min, *max);
}

// Rules shared by every value of their kind, emitted once, in this order, when used.
struct SharedRule {
    std::string_view name;
    std::string_view text;
    std::string_view needs;  // another shared rule this one refers to, or ""
};

// char: any code point but quote, backslash and C0/C1 controls, or an escape. \u escapes
// exclude surrogates (D800-DFFF) because a lone one makes the JSON invalid; characters outside
// the BMP are still reachable as raw UTF-8.
//
// Numbers follow JSON syntax with at most 16 integer and 16 fraction digits and a two-digit
// exponent, so a model can neither spend its budget on digits nor overflow a double. minimum
// and maximum are left to validate(), as digit-range rules would bloat the grammar; what the
// grammar does write in is a minimum of 0 or more (no minus sign) and small integer ranges
// (listed_integers), because a greedy decoder that writes an out-of-range number once writes
// it again on every retry.
constexpr SharedRule kSharedRules[] = {
    {"string", R"(string ::= "\"" char* "\"")", "char"},
    {"char",
     R"(char ::= [^"\\\x00-\x1F\x7F-\x9F] | "\\" (["\\/bfnrt] | "u" ([0-9a-cA-CeEfF] )"
     R"([0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2})))",
     ""},
    {"number", R"(number ::= "-"? nonnegative-number)", "nonnegative-number"},
    {"nonnegative-number",
     R"(nonnegative-number ::= nonnegative-integer ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?)",
     "nonnegative-integer"},
    {"integer", R"(integer ::= "-"? nonnegative-integer)", "nonnegative-integer"},
    {"nonnegative-integer", R"(nonnegative-integer ::= "0" | [1-9] [0-9]{0,15})", ""},
    {"boolean", R"(boolean ::= "true" | "false")", ""},
};

// The integers an integer node allows, when they are few enough to list as alternatives: a
// judge's score from 1 to 10 then comes out in range even from a greedy decoder.
std::optional<std::pair<std::int64_t, std::int64_t>> listed_integers(const SchemaNode& node) {
    if (node.type != SchemaType::integer || !node.minimum || !node.maximum)
        return std::nullopt;
    const double low = std::ceil(*node.minimum);
    const double high = std::floor(*node.maximum);
    if (std::abs(low) > 1e15 || high - low >= kMaxListedIntegers)
        return std::nullopt;
    return std::pair(static_cast<std::int64_t>(low), static_cast<std::int64_t>(high));
}

class GbnfWriter {
  public:
    std::string write(const SchemaNode& root) {
        define("root", [&] { return body(root, "root"); });
        std::string out;
        for (const auto& rule : rules_)
            out += rule + "\n";
        for (const auto& rule : kSharedRules) {
            if (used_.count(rule.name) != 0)
                out += std::string(rule.text) + "\n";
        }
        return out;
    }

  private:
    // Places rule `name` before the rules its body defines, so the grammar reads top-down.
    template <typename MakeBody>
    void define(const std::string& name, MakeBody make_body) {
        std::size_t slot = rules_.size();
        rules_.emplace_back();
        std::string text = make_body();
        rules_[slot] = name + " ::= " + text;
    }

    // `name` of a shared rule, marking it and the rule it needs for output.
    std::string use(std::string_view name) {
        for (const auto& rule : kSharedRules) {
            if (rule.name == name && used_.insert(rule.name).second && !rule.needs.empty())
                use(rule.needs);
        }
        return std::string(name);
    }

    // An expression matching `node`: a new rule named after `hint` when the node has
    // constraints the grammar expresses, else a shared rule.
    std::string reference(const SchemaNode& node, const std::string& hint) {
        if (has_own_rule(node)) {
            std::string name = unique_name(hint);
            define(name, [&] { return body(node, name); });
            return name;
        }
        const bool nonnegative = node.minimum && *node.minimum >= 0;
        if (node.type == SchemaType::integer)
            return use(nonnegative ? "nonnegative-integer" : "integer");
        if (node.type == SchemaType::number)
            return use(nonnegative ? "nonnegative-number" : "number");
        return use(node.type == SchemaType::boolean ? "boolean" : "string");
    }

    std::string body(const SchemaNode& node, const std::string& name) {
        if (!has_own_rule(node))
            return reference(node, name);
        if (!node.union_types.empty())
            return union_body(node);
        if (node.type == SchemaType::object)
            return object_body(node, name);
        if (node.type == SchemaType::array)
            return array_body(node, name);
        if (node.type == SchemaType::integer)
            return integer_list_body(*listed_integers(node));
        return string_body(node);
    }

    // A union gets its own rule so that its alternatives never mix with the text around them.
    static bool has_own_rule(const SchemaNode& node) {
        if (!node.union_types.empty())
            return true;
        switch (node.type) {
            case SchemaType::object:
            case SchemaType::array:
                return true;
            case SchemaType::string:
                return !node.enum_values.empty() || node.min_length > 0 || node.max_length;
            case SchemaType::integer:
                return listed_integers(node).has_value();
            case SchemaType::number:
            case SchemaType::boolean:
                return false;
        }
        return false;
    }

    static std::string integer_list_body(std::pair<std::int64_t, std::int64_t> range) {
        std::string out;
        for (std::int64_t i = range.first; i <= range.second; ++i)
            out += fmt::format("{}\"{}\"", out.empty() ? "" : " | ", i);
        return out;
    }

    std::string union_body(const SchemaNode& node) {
        std::string out;
        for (SchemaType t : node.union_types)
            out += (out.empty() ? "" : " | ") + use(detail::to_string(t));
        return out;
    }

    std::string string_body(const SchemaNode& node) {
        if (!node.enum_values.empty()) {
            std::string out;
            for (const auto& value : node.enum_values) {
                if (!out.empty())
                    out += " | ";
                out += gbnf_literal(json_quote(value));
            }
            return out;
        }
        std::string chars = repeat(use("char"), node.min_length, node.max_length);
        return chars.empty() ? R"("\"\"")" : R"("\"" )" + chars + R"( "\"")";
    }

    std::string array_body(const SchemaNode& node, const std::string& name) {
        if (node.max_items && *node.max_items == 0)
            return R"("[]")";
        std::string item = reference(*node.items, name + "-item");
        auto more_max = node.max_items ? std::optional(*node.max_items - 1) : std::nullopt;

        if (node.min_items == 0) {
            std::string more = repeat("(\",\" " + item + ")", 0, more_max);
            std::string list = more.empty() ? item + "?" : "(" + item + " " + more + ")?";
            return "\"[\" " + list + " \"]\"";
        }
        std::string more = repeat("(\",\" " + item + ")", node.min_items - 1, more_max);
        return "\"[\" " + item + (more.empty() ? "" : " " + more) + " \"]\"";
    }

    // Compact JSON, properties in schema order, optional ones skippable. The first property
    // written carries no comma, so when optional properties precede the first required one,
    // each of them (and that required one) gets an alternative starting with it.
    std::string object_body(const SchemaNode& node, const std::string& name) {
        const auto& props = node.properties;
        if (props.empty())
            return node.additional_properties ? map_body(node, name) : R"("{}")";

        std::vector<std::string> values;
        for (const auto& p : props)
            values.push_back(reference(p.schema, name + "-" + p.name));
        auto key = [&](std::size_t i) { return json_quote(props[i].name) + ":"; };
        auto tail = [&](std::size_t from) {
            std::string out;
            for (std::size_t i = from; i < props.size(); ++i) {
                std::string pair = gbnf_literal("," + key(i)) + " " + values[i];
                out += props[i].required ? " " + pair : " (" + pair + ")?";
            }
            return out;
        };

        std::size_t first_required = 0;
        while (first_required < props.size() && !props[first_required].required) {
            ++first_required;
        }
        if (first_required == 0) {
            return gbnf_literal("{" + key(0)) + " " + values[0] + tail(1) + R"( "}")";
        }
        std::string alternatives;
        for (std::size_t i = 0; i <= first_required && i < props.size(); ++i) {
            if (!alternatives.empty())
                alternatives += " | ";
            alternatives += gbnf_literal(key(i)) + " " + values[i] + tail(i + 1);
        }
        const char* optional = first_required == props.size() ? "?" : "";
        return R"("{" ()" + alternatives + ")" + optional + R"( "}")";
    }

    // Any number of entries. The grammar cannot keep keys apart, but of a repeated key
    // validate() sees the last value, which matches the value schema like every other.
    std::string map_body(const SchemaNode& node, const std::string& name) {
        std::string entry = unique_name(name + "-entry");
        define(entry, [&] {
            return use("string") + R"( ":" )" +
                   reference(*node.additional_properties, name + "-value");
        });
        return R"("{" ()" + entry + R"( ("," )" + entry + R"()*)? "}")";
    }

    // GBNF rule names allow only [a-zA-Z0-9-]; other characters of property names become '-'.
    std::string unique_name(const std::string& hint) {
        std::string base;
        for (char c : hint)
            base += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
        std::string name = base;
        for (int n = 2; !names_.insert(name).second; ++n)
            name = fmt::format("{}-{}", base, n);
        return name;
    }

    std::vector<std::string> rules_;
    std::set<std::string> names_{"root"};
    std::set<std::string_view> used_;
};

}  // namespace

namespace detail {

std::string to_gbnf(const SchemaNode& root) {
    return GbnfWriter().write(root);
}

}  // namespace detail
}  // namespace hyperalign::llm
