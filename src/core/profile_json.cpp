#include "hyperalign/core/profile.hpp"

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hyperalign {
namespace {

using Json = nlohmann::ordered_json;

Json spend_json(const TokenSpend& s) {
    return Json{{"calls", s.calls},
                {"failures", s.failures},
                {"tokens_prompt", s.tokens_prompt},
                {"tokens_completion", s.tokens_completion}};
}

Json hypothesis_json(const Hypothesis& h) {
    return Json{{"text", h.text},         {"accuracy", h.accuracy}, {"visits", h.visits},
                {"correct", h.correct},   {"invalid", h.invalid},   {"reward", h.reward},
                {"evidence", h.evidence}, {"origin", h.origin},     {"source", h.source},
                {"pinned", h.pinned}};
}

Json event_json(const HypothesisEvent& e) {
    return Json{{"kind", e.kind},    {"text", e.text},         {"version", e.version},
                {"row", e.row},      {"accuracy", e.accuracy}, {"reward", e.reward},
                {"reason", e.reason}};
}

// The name of what a field of type T holds, for messages.
template <typename T>
constexpr const char* kind_of() {
    if constexpr (std::is_same_v<T, bool>) {
        return "a boolean";
    } else if constexpr (std::is_integral_v<T>) {
        return "an integer";
    } else if constexpr (std::is_floating_point_v<T>) {
        return "a number";
    } else if constexpr (std::is_same_v<T, std::string>) {
        return "a string";
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
        return "an array of strings";
    } else {
        static_assert(std::is_same_v<T, std::map<std::string, std::string>>);
        return "an object of strings";
    }
}

// Whether `v` holds a T as it is. Checked before get<T>(), which would read true, 2.7 and -1
// into integers as 1, 2 and 4294967295 without a word; for other types get<T>() itself throws.
template <typename T>
bool holds(const Json& v) {
    if constexpr (std::is_same_v<T, bool>) {
        return v.is_boolean();
    } else if constexpr (std::is_integral_v<T>) {
        if (v.is_number_unsigned())
            return std::in_range<T>(v.get<std::uint64_t>());
        return v.is_number_integer() && std::in_range<T>(v.get<std::int64_t>());
    } else if constexpr (std::is_floating_point_v<T>) {
        return v.is_number();
    } else {
        return true;
    }
}

// What is wrong with `v` as a T, once holds<T>(v) has said no.
template <typename T>
std::string mismatch(const Json& v) {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        if (v.is_number_integer()) {
            return fmt::format("must be an integer from {} to {}", std::numeric_limits<T>::min(),
                               std::numeric_limits<T>::max());
        }
    }
    return fmt::format("must be {}, not {}", kind_of<T>(), v.type_name());
}

// Reads typed fields out of a JSON object, remembering the first problem with its path.
class Reader {
  public:
    explicit Reader(std::string file) : file_(std::move(file)) {}

    template <typename T>
    void get(const Json& obj, const std::string& path, const char* key, T& out) {
        if (failed_)
            return;
        const std::string field = path.empty() ? key : path + "." + key;
        auto it = obj.find(key);
        if (it == obj.end())
            return fail(field, "is missing");
        if (!holds<T>(*it))
            return fail(field, mismatch<T>(*it));
        try {
            out = it->template get<T>();
        } catch (const nlohmann::json::exception&) {
            fail(field, mismatch<T>(*it));
        }
    }

    // The member `key` of `obj` when it is an object; null (and the failure noted) otherwise.
    const Json* object(const Json& obj, const std::string& path, const char* key) {
        return member(obj, path, key, Json::value_t::object, "must be an object");
    }

    const Json* array(const Json& obj, const std::string& path, const char* key) {
        return member(obj, path, key, Json::value_t::array, "must be an array");
    }

    // Whether `j`, found at `path`, is an object; notes the failure when it is not.
    bool is_object(const Json& j, const std::string& path) {
        if (!failed_ && !j.is_object())
            fail(path, fmt::format("must be an object, not {}", j.type_name()));
        return !failed_;
    }

    void fail(const std::string& field, const std::string& message) {
        if (failed_)
            return;
        failed_ = true;
        error_ = make_error(ErrorCode::invalid_input, "profile field " + message);
        error_.file = file_;
        error_.field = field;
    }

    bool failed() const { return failed_; }
    Error error() const { return error_; }

  private:
    const Json* member(const Json& obj, const std::string& path, const char* key,
                       Json::value_t type, const char* message) {
        if (failed_)
            return nullptr;
        const std::string field = path.empty() ? key : path + "." + key;
        auto it = obj.find(key);
        if (it == obj.end())
            fail(field, "is missing");
        else if (it->type() != type)
            fail(field, fmt::format("{}, not {}", message, it->type_name()));
        return failed_ ? nullptr : &*it;
    }

    std::string file_;
    bool failed_ = false;
    Error error_;
};

// `schema` is the document's schema_version: version 1 has no source or pinned.
void read_hypothesis(Reader& r, const Json& j, const std::string& path, int schema, Hypothesis& h) {
    if (!r.is_object(j, path))
        return;
    r.get(j, path, "text", h.text);
    r.get(j, path, "accuracy", h.accuracy);
    r.get(j, path, "visits", h.visits);
    r.get(j, path, "correct", h.correct);
    r.get(j, path, "invalid", h.invalid);
    r.get(j, path, "reward", h.reward);
    r.get(j, path, "evidence", h.evidence);
    r.get(j, path, "origin", h.origin);
    if (schema < 2)
        return;
    r.get(j, path, "source", h.source);
    r.get(j, path, "pinned", h.pinned);
}

void read_event(Reader& r, const Json& j, const std::string& path, HypothesisEvent& e) {
    if (!r.is_object(j, path))
        return;
    r.get(j, path, "kind", e.kind);
    r.get(j, path, "text", e.text);
    r.get(j, path, "version", e.version);
    r.get(j, path, "row", e.row);
    r.get(j, path, "accuracy", e.accuracy);
    r.get(j, path, "reward", e.reward);
    r.get(j, path, "reason", e.reason);
}

void read_demonstration(Reader& r, const Json& j, const std::string& path,
                        ProfileDemonstration& d) {
    if (!r.is_object(j, path))
        return;
    r.get(j, path, "id", d.id);
    r.get(j, path, "prompt", d.prompt);
    r.get(j, path, "prompt_derived", d.prompt_derived);
    r.get(j, path, "text", d.text);
    r.get(j, path, "sha256", d.sha256);
}

void read_spend(Reader& r, const Json& j, const std::string& path, TokenSpend& s) {
    if (!r.is_object(j, path))
        return;
    r.get(j, path, "calls", s.calls);
    r.get(j, path, "failures", s.failures);
    r.get(j, path, "tokens_prompt", s.tokens_prompt);
    r.get(j, path, "tokens_completion", s.tokens_completion);
}

void read_provenance(Reader& r, const Json& j, Provenance& p) {
    const std::string path = "provenance";
    r.get(j, path, "tool_version", p.tool_version);
    r.get(j, path, "backend", p.backend);
    r.get(j, path, "model", p.model);
    r.get(j, path, "model_sha256", p.model_sha256);
    r.get(j, path, "chat_template", p.chat_template);
    r.get(j, path, "context_size", p.context_size);
    r.get(j, path, "seed", p.seed);
    if (const Json* params = r.object(j, path, "parameters")) {
        for (const auto& [k, v] : params->items())
            p.parameters[k] = v.dump();
    }
    r.get(j, path, "prompt_versions", p.prompt_versions);
    if (const Json* spend = r.object(j, path, "spend")) {
        for (const auto& [k, v] : spend->items())
            read_spend(r, v, path + ".spend." + k, p.spend[k]);
    }
    r.get(j, path, "texts_cut", p.texts_cut);
    r.get(j, path, "created_at", p.created_at);
}

void read_attributes(Reader& r, const Json& j, Attributes& a) {
    const std::string path = "attributes";
    r.get(j, path, "writing_style", a.writing_style);
    r.get(j, path, "personality", a.personality);
    r.get(j, path, "communication", a.communication);
    r.get(j, path, "background", a.background);
}

// A parameter's value as JSON. The text should be JSON already; text that is not is kept as a
// string, so that the document stays valid JSON (nlohmann would write "<discarded>").
Json parameter_json(const std::string& text) {
    Json value = Json::parse(text, nullptr, false);
    return value.is_discarded() ? Json(text) : value;
}

}  // namespace

std::string to_json(const Profile& p) {
    Json attributes{{"writing_style", p.attributes.writing_style},
                    {"personality", p.attributes.personality},
                    {"communication", p.attributes.communication},
                    {"background", p.attributes.background}};
    Json hypotheses = Json::array();
    for (const auto& h : p.hypotheses)
        hypotheses.push_back(hypothesis_json(h));
    Json demos = Json::array();
    for (const auto& d : p.demonstrations) {
        demos.push_back(Json{{"id", d.id},
                             {"prompt", d.prompt},
                             {"prompt_derived", d.prompt_derived},
                             {"text", d.text},
                             {"sha256", d.sha256}});
    }
    Json params = Json::object();
    for (const auto& [k, v] : p.provenance.parameters)
        params[k] = parameter_json(v);
    Json spend = Json::object();
    for (const auto& [k, v] : p.provenance.spend)
        spend[k] = spend_json(v);
    Json history = Json::array();
    for (const auto& e : p.history)
        history.push_back(event_json(e));
    const Provenance& pv = p.provenance;
    Json provenance{{"tool_version", pv.tool_version},
                    {"backend", pv.backend},
                    {"model", pv.model},
                    {"model_sha256", pv.model_sha256},
                    {"chat_template", pv.chat_template},
                    {"context_size", pv.context_size},
                    {"seed", pv.seed},
                    {"parameters", params},
                    {"prompt_versions", pv.prompt_versions},
                    {"spend", spend},
                    {"texts_cut", pv.texts_cut},
                    {"created_at", pv.created_at}};
    Json doc{{"schema_version", p.schema_version},
             {"person", p.person},
             {"version", p.version},
             {"attributes", attributes},
             {"hypotheses", hypotheses},
             {"demonstrations", demos},
             {"provenance", provenance}};
    doc["history"] = history;
    // Text fields come from validated input or from the backends, which return valid UTF-8; the
    // replacement handler is a last guard so that writing a profile can never throw.
    return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

Result<Profile> profile_from_json(std::string_view text, const std::string& source_file) {
    Json doc = Json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        Error e = make_error(ErrorCode::invalid_input,
                             doc.is_discarded() ? "not valid JSON (is this a profile?)"
                                                : "not a JSON object (is this a profile?)");
        e.file = source_file;
        return e;
    }

    // The version first: a document of another version may differ in any other field.
    Reader r(source_file);
    Profile p;
    r.get(doc, "", "schema_version", p.schema_version);
    const int schema = p.schema_version;
    if (!r.failed() && (schema < 1 || schema > Profile::kSchemaVersion)) {
        r.fail("schema_version", fmt::format("is {}; this build reads versions 1 to {}", schema,
                                             Profile::kSchemaVersion));
    }
    p.schema_version = Profile::kSchemaVersion;

    r.get(doc, "", "person", p.person);
    r.get(doc, "", "version", p.version);
    if (const Json* a = r.object(doc, "", "attributes"))
        read_attributes(r, *a, p.attributes);
    if (const Json* hs = r.array(doc, "", "hypotheses")) {
        p.hypotheses.resize(hs->size());
        for (size_t i = 0; i < hs->size(); ++i)
            read_hypothesis(r, (*hs)[i], fmt::format("hypotheses[{}]", i), schema, p.hypotheses[i]);
    }
    if (const Json* ds = r.array(doc, "", "demonstrations")) {
        p.demonstrations.resize(ds->size());
        for (size_t i = 0; i < ds->size(); ++i) {
            read_demonstration(r, (*ds)[i], fmt::format("demonstrations[{}]", i),
                               p.demonstrations[i]);
        }
    }
    if (const Json* pv = r.object(doc, "", "provenance"))
        read_provenance(r, *pv, p.provenance);
    const Json* events = schema >= 2 ? r.array(doc, "", "history") : nullptr;
    if (events) {
        p.history.resize(events->size());
        for (size_t i = 0; i < events->size(); ++i)
            read_event(r, (*events)[i], fmt::format("history[{}]", i), p.history[i]);
    }
    if (r.failed())
        return r.error();
    return p;
}

}  // namespace hyperalign
