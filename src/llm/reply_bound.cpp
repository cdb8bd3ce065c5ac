#include <algorithm>
#include <optional>

#include "hyperalign/llm/client.hpp"
#include "llm/json_schema_detail.hpp"

namespace hyperalign::llm {
namespace {

using detail::SchemaNode;
using detail::SchemaType;

// The longest compact JSON text a node allows, in characters (an escape counted as 2), or
// nothing when the schema leaves it unbounded.
std::optional<size_t> max_chars(const SchemaNode& n) {
    if (!n.union_types.empty())
        return 24;
    switch (n.type) {
        case SchemaType::boolean:
            return 5;
        case SchemaType::integer:
        case SchemaType::number:
            return 40;
        case SchemaType::string: {
            if (!n.enum_values.empty()) {
                size_t longest = 0;
                for (const auto& v : n.enum_values)
                    longest = std::max(longest, v.size());
                return longest * 2 + 2;
            }
            if (!n.max_length)
                return std::nullopt;
            return *n.max_length * 2 + 2;
        }
        case SchemaType::array: {
            if (!n.max_items || !n.items)
                return std::nullopt;
            auto item = max_chars(*n.items);
            if (!item)
                return std::nullopt;
            return 2 + *n.max_items * (*item + 1);
        }
        case SchemaType::object: {
            if (n.additional_properties)
                return std::nullopt;
            size_t total = 2;
            for (const auto& p : n.properties) {
                auto v = max_chars(p.schema);
                if (!v)
                    return std::nullopt;
                total += p.name.size() + 4 + *v;
            }
            return total;
        }
    }
    return std::nullopt;
}

}  // namespace

int reply_allowance(const JsonSchema& schema, int configured) {
    // Escapes are rare in model prose: half of the escaped bound plus slack covers replies of
    // ordinary text in any tokenizer that spends at most one token per character.
    auto bound = max_chars(schema.root());
    if (!bound)
        return configured;
    const size_t typical = *bound / 2 + 32;
    return int(std::min(size_t(configured), typical));
}

}  // namespace hyperalign::llm
