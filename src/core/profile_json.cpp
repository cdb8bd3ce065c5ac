#include <nlohmann/json.hpp>

#include "hyperalign/core/profile.hpp"

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
                {"evidence", h.evidence}, {"origin", h.origin}};
}

// Reads typed fields out of a JSON object, remembering the first problem with its path.
class Reader {
public:
    Reader(const Json& root, std::string file) : root_(root), file_(std::move(file)) {}

    template <typename T>
    void get(const Json& obj, const std::string& path, const char* key, T& out,
             bool required = true) {
        if (failed_) return;
        std::string field = path.empty() ? key : path + "." + key;
        auto it = obj.find(key);
        if (it == obj.end()) {
            if (required) fail(field, "missing");
            return;
        }
        try {
            out = it->template get<T>();
        } catch (const nlohmann::json::exception&) {
            fail(field, std::string("has the wrong type (") + it->type_name() + ")");
        }
    }

    const Json* object(const Json& obj, const std::string& path, const char* key) {
        if (failed_) return nullptr;
        std::string field = path.empty() ? key : path + "." + key;
        auto it = obj.find(key);
        if (it == obj.end() || !it->is_object()) {
            fail(field, "must be an object");
            return nullptr;
        }
        return &*it;
    }

    const Json* array(const Json& obj, const std::string& path, const char* key) {
        if (failed_) return nullptr;
        std::string field = path.empty() ? key : path + "." + key;
        auto it = obj.find(key);
        if (it == obj.end() || !it->is_array()) {
            fail(field, "must be an array");
            return nullptr;
        }
        return &*it;
    }

    void fail(const std::string& field, const std::string& message) {
        if (failed_) return;
        failed_ = true;
        error_ = make_error(ErrorCode::invalid_input, "profile field " + message);
        error_.file = file_;
        error_.field = field;
    }

    bool failed() const { return failed_; }
    Error error() const { return error_; }
    const Json& root() const { return root_; }

private:
    const Json& root_;
    std::string file_;
    bool failed_ = false;
    Error error_;
};

void read_hypothesis(Reader& r, const Json& j, const std::string& path, Hypothesis& h) {
    if (!j.is_object()) return r.fail(path, "must be an object");
    r.get(j, path, "text", h.text);
    r.get(j, path, "accuracy", h.accuracy);
    r.get(j, path, "visits", h.visits);
    r.get(j, path, "correct", h.correct);
    r.get(j, path, "invalid", h.invalid);
    r.get(j, path, "reward", h.reward);
    r.get(j, path, "evidence", h.evidence);
    r.get(j, path, "origin", h.origin);
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
    r.get(j, path, "texts_cut", p.texts_cut);
    r.get(j, path, "created_at", p.created_at);
    r.get(j, path, "prompt_versions", p.prompt_versions);
    if (const Json* params = r.object(j, path, "parameters")) {
        for (const auto& [k, v] : params->items()) p.parameters[k] = v.dump();
    }
    if (const Json* spend = r.object(j, path, "spend")) {
        for (const auto& [k, v] : spend->items()) {
            TokenSpend& s = p.spend[k];
            const std::string sp = path + ".spend." + k;
            r.get(v, sp, "calls", s.calls);
            r.get(v, sp, "failures", s.failures);
            r.get(v, sp, "tokens_prompt", s.tokens_prompt);
            r.get(v, sp, "tokens_completion", s.tokens_completion);
        }
    }
}

}  // namespace

std::string to_json(const Profile& p) {
    Json attributes{{"writing_style", p.attributes.writing_style},
                    {"personality", p.attributes.personality},
                    {"communication", p.attributes.communication},
                    {"background", p.attributes.background}};
    Json hypotheses = Json::array();
    for (const auto& h : p.hypotheses) hypotheses.push_back(hypothesis_json(h));
    Json demos = Json::array();
    for (const auto& d : p.demonstrations) {
        demos.push_back(Json{{"id", d.id},
                             {"prompt", d.prompt},
                             {"prompt_derived", d.prompt_derived},
                             {"text", d.text},
                             {"sha256", d.sha256}});
    }
    Json params = Json::object();
    for (const auto& [k, v] : p.provenance.parameters) {
        params[k] = Json::parse(v, nullptr, false);
    }
    Json spend = Json::object();
    for (const auto& [k, v] : p.provenance.spend) spend[k] = spend_json(v);
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
    return doc.dump(2) + "\n";
}

Result<Profile> profile_from_json(std::string_view text, const std::string& source_file) {
    Json doc = Json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        Error e = make_error(ErrorCode::invalid_input, "not a JSON object (is this a profile?)");
        e.file = source_file;
        return e;
    }
    Reader r(doc, source_file);
    Profile p;
    r.get(doc, "", "schema_version", p.schema_version);
    if (!r.failed() && p.schema_version != Profile::kSchemaVersion) {
        r.fail("schema_version", "is " + std::to_string(p.schema_version) +
                                     "; this build reads version " +
                                     std::to_string(Profile::kSchemaVersion));
    }
    r.get(doc, "", "person", p.person);
    r.get(doc, "", "version", p.version);
    if (const Json* a = r.object(doc, "", "attributes")) {
        r.get(*a, "attributes", "writing_style", p.attributes.writing_style);
        r.get(*a, "attributes", "personality", p.attributes.personality);
        r.get(*a, "attributes", "communication", p.attributes.communication);
        r.get(*a, "attributes", "background", p.attributes.background);
    }
    if (const Json* hs = r.array(doc, "", "hypotheses")) {
        for (size_t i = 0; i < hs->size(); ++i) {
            Hypothesis h;
            read_hypothesis(r, (*hs)[i], "hypotheses[" + std::to_string(i) + "]", h);
            p.hypotheses.push_back(std::move(h));
        }
    }
    if (const Json* ds = r.array(doc, "", "demonstrations")) {
        for (size_t i = 0; i < ds->size(); ++i) {
            const std::string path = "demonstrations[" + std::to_string(i) + "]";
            ProfileDemonstration d;
            r.get((*ds)[i], path, "id", d.id);
            r.get((*ds)[i], path, "prompt", d.prompt);
            r.get((*ds)[i], path, "prompt_derived", d.prompt_derived);
            r.get((*ds)[i], path, "text", d.text);
            r.get((*ds)[i], path, "sha256", d.sha256);
            p.demonstrations.push_back(std::move(d));
        }
    }
    if (const Json* pv = r.object(doc, "", "provenance")) read_provenance(r, *pv, p.provenance);
    if (r.failed()) return r.error();
    return p;
}

}  // namespace hyperalign
