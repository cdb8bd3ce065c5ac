#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "hyperalign/core/result.hpp"

namespace hyperalign::prompts {

using Vars = std::map<std::string, std::string, std::less<>>;

// One prompt template from prompts/manifest.json: named parts ("system", "user", "item") whose
// text has ${name} placeholders, an optional JSON schema for the reply, and a version that
// changes whenever its wording does.
struct TemplateInfo {
    std::string id;
    int version = 0;
    std::vector<std::string> variables;        // every placeholder any part may use
    std::map<std::string, std::string> parts;  // part name -> text
    std::string schema;                        // JSON schema text, empty when free text
    std::string sha256;                        // of the parts and schema, for provenance
};

// The templates: embedded in the binary, or read from $HYPERALIGN_PROMPTS_DIR when set (for
// editing prompts without rebuilding; the hash in provenance then records the edited text).
// Loaded once; a broken manifest is reported by `find`.
Result<const TemplateInfo*> find(std::string_view id);
Result<std::vector<const TemplateInfo*>> all();

// Replaces each ${name} in `text` with vars[name]; "$$" is a literal '$'. Fails with internal
// when a placeholder has no value (a template and its caller disagree).
Result<std::string> substitute(std::string_view text, const Vars& vars);

// find(id) + substitute(part).
Result<std::string> render(std::string_view id, std::string_view part, const Vars& vars);

// The template's reply schema, or an error when it has none.
Result<std::string> schema(std::string_view id);

}  // namespace hyperalign::prompts
