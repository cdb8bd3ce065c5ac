#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hyperalign/core/hypothesis.hpp"
#include "hyperalign/core/result.hpp"

namespace hyperalign {

// Short statements describing the person, one list per dimension of the paper's step 1.
struct Attributes {
    std::vector<std::string> writing_style;
    std::vector<std::string> personality;
    std::vector<std::string> communication;
    std::vector<std::string> background;

    bool empty() const {
        return writing_style.empty() && personality.empty() && communication.empty() &&
               background.empty();
    }
};

// A demonstration as the profile keeps it: the person's own text (needed for few-shot
// generation and to show evidence), with its hash for provenance.
struct ProfileDemonstration {
    std::string id;
    std::string prompt;
    bool prompt_derived = false;
    std::string text;
    std::string sha256;  // of the text as loaded
};

struct TokenSpend {
    int64_t calls = 0;
    int64_t failures = 0;
    int64_t tokens_prompt = 0;
    int64_t tokens_completion = 0;
};

// Everything needed to say how a profile was made. No timings: those go to the run log, so that
// the same inputs and seed give the same profile apart from `created_at`.
struct Provenance {
    std::string tool_version;
    std::string backend;  // "llama.cpp" / "openai"
    std::string model;    // GGUF path or model name
    std::string model_sha256;
    std::string chat_template;
    int context_size = 0;
    uint32_t seed = 0;
    // All learning parameters, as name -> JSON value text (kept generic so new parameters do not
    // change the schema).
    std::map<std::string, std::string> parameters;
    std::map<std::string, std::string> prompt_versions;  // template id -> "v<version>:<sha256>"
    std::map<std::string, TokenSpend> spend;             // per purpose
    int texts_cut = 0;       // texts shortened to fit the context (rule: docs/limitations.md)
    std::string created_at;  // UTC, ISO 8601
};

// One change to a profile's hypotheses, kept so the person can see where each belief came from
// and why others left. Kinds: "added", "dropped", "rejected", "duplicate" (by learning; see
// learn::BankEvent), "pinned", "unpinned", "removed_by_person", "added_by_person" (hand edits).
// A text removed by the person is never learned again.
struct HypothesisEvent {
    std::string kind;
    std::string text;
    int version = 1;  // the profile version it happened in
    int row = -1;     // 0-based row (counting every text learned from so far); -1 for none
    double accuracy = 0;
    double reward = 0;
    std::string reason;
};

// A person's profile: what the system believes about them, why, and how it was learned.
// Serialised as versioned JSON (schemas/profile.schema.json); kSchemaVersion changes whenever
// the document's shape does.
struct Profile {
    static constexpr int kSchemaVersion = 2;

    int schema_version = kSchemaVersion;
    std::string person;  // a name or id chosen by the user; may be empty
    int version = 1;     // grows with each update of the same person's profile
    Attributes attributes;
    std::vector<Hypothesis> hypotheses;  // pinned first, then ranked, best first
    std::vector<ProfileDemonstration> demonstrations;
    Provenance provenance;
    std::vector<HypothesisEvent> history;  // oldest first
};

// JSON (pretty-printed, keys in a fixed order) and back. Parsing fails with invalid_input naming
// the field path for a wrong type or missing field, and for a schema_version this build does
// not read. A version 1 document (no history, source or pinned) is read as learned, unpinned
// hypotheses with an empty history; the result is always kSchemaVersion.
std::string to_json(const Profile& profile);
Result<Profile> profile_from_json(std::string_view json, const std::string& source_file = "");

}  // namespace hyperalign
