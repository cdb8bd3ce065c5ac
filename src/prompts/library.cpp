#include "hyperalign/prompts/library.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hyperalign/core/hash.hpp"
#include "hyperalign/prompts/embedded.hpp"

namespace hyperalign::prompts {
namespace {

using FileReader = std::function<Result<std::string>(const std::string&)>;

struct Library {
    std::vector<TemplateInfo> templates;
    Error error;
    bool failed = false;
};

Result<std::string> read_embedded(const std::string& name) {
    for (const auto& f : detail::embedded_files()) {
        if (f.name == name)
            return std::string(f.content);
    }
    Error e = make_error(ErrorCode::internal, "prompt file is not embedded");
    e.file = "prompts/" + name;
    return e;
}

Result<std::string> read_from_dir(const std::filesystem::path& dir, const std::string& name) {
    std::ifstream in(dir / name, std::ios::binary);
    if (!in) {
        Error e = make_error(ErrorCode::not_found, "prompt file not found");
        e.file = (dir / name).string();
        return e;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Error manifest_error(const std::string& field, const std::string& message) {
    Error e = make_error(ErrorCode::internal, message);
    e.file = "prompts/manifest.json";
    e.field = field;
    return e;
}

Result<TemplateInfo> parse_entry(const nlohmann::json& j, size_t index, const FileReader& read) {
    const std::string where = fmt::format("templates[{}]", index);
    if (!j.is_object() || !j.contains("id") || !j["id"].is_string() || !j.contains("version") ||
        !j["version"].is_number_integer() || !j.contains("parts") || !j["parts"].is_object()) {
        return manifest_error(where, "needs string id, integer version and object parts");
    }
    TemplateInfo t;
    t.id = j["id"].get<std::string>();
    t.version = j["version"].get<int>();
    std::string hashed = fmt::format("{}@{}\n", t.id, t.version);
    for (const auto& [part, file] : j["parts"].items()) {
        if (!file.is_string())
            return manifest_error(where + ".parts." + part, "must be a file name");
        HA_ASSIGN_OR_RETURN(std::string text, read(file.get<std::string>()));
        hashed += part + "\n" + text + "\n";
        t.parts.emplace(part, std::move(text));
    }
    if (j.contains("schema")) {
        HA_ASSIGN_OR_RETURN(t.schema, read(j["schema"].get<std::string>()));
        hashed += "schema\n" + t.schema;
    }
    if (j.contains("variables")) {
        for (const auto& v : j["variables"])
            t.variables.push_back(v.get<std::string>());
    }
    t.sha256 = sha256_hex(hashed);
    return t;
}

Library load(const FileReader& read) {
    Library lib;
    auto fail = [&lib](Error e) {
        lib.failed = true;
        lib.error = std::move(e);
        return lib;
    };
    auto text = read("manifest.json");
    if (!text.ok())
        return fail(text.take_error());
    auto manifest = nlohmann::json::parse(*text, nullptr, false);
    if (manifest.is_discarded() || !manifest.contains("templates") ||
        !manifest["templates"].is_array()) {
        return fail(
            manifest_error("templates", "manifest must be an object with a templates list"));
    }
    for (size_t i = 0; i < manifest["templates"].size(); ++i) {
        auto t = parse_entry(manifest["templates"][i], i, read);
        if (!t.ok())
            return fail(t.take_error());
        lib.templates.push_back(std::move(t).value());
    }
    return lib;
}

const Library& library() {
    static const Library lib = [] {
        if (const char* dir = std::getenv("HYPERALIGN_PROMPTS_DIR"); dir && *dir) {
            std::filesystem::path root(dir);
            return load([root](const std::string& name) { return read_from_dir(root, name); });
        }
        return load(read_embedded);
    }();
    return lib;
}

}  // namespace

Result<std::vector<const TemplateInfo*>> all() {
    const Library& lib = library();
    if (lib.failed)
        return lib.error;
    std::vector<const TemplateInfo*> out;
    for (const auto& t : lib.templates)
        out.push_back(&t);
    return out;
}

Result<const TemplateInfo*> find(std::string_view id) {
    const Library& lib = library();
    if (lib.failed)
        return lib.error;
    for (const auto& t : lib.templates) {
        if (t.id == id)
            return &t;
    }
    return make_error(ErrorCode::internal, fmt::format("no prompt template '{}'", id));
}

Result<std::string> substitute(std::string_view text, const Vars& vars) {
    std::string out;
    out.reserve(text.size() + 256);
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '$' || i + 1 >= text.size()) {
            out += text[i];
            continue;
        }
        if (text[i + 1] == '$') {
            out += '$';
            ++i;
            continue;
        }
        if (text[i + 1] != '{') {
            out += '$';
            continue;
        }
        size_t close = text.find('}', i + 2);
        if (close == std::string_view::npos) {
            return make_error(ErrorCode::internal, "unterminated ${ in a prompt template");
        }
        std::string_view name = text.substr(i + 2, close - i - 2);
        auto it = vars.find(name);
        if (it == vars.end()) {
            return make_error(ErrorCode::internal,
                              fmt::format("prompt variable '{}' has no value", name));
        }
        out += it->second;
        i = close;
    }
    return out;
}

Result<std::string> render(std::string_view id, std::string_view part, const Vars& vars) {
    HA_ASSIGN_OR_RETURN(const TemplateInfo* t, find(id));
    auto it = t->parts.find(std::string(part));
    if (it == t->parts.end()) {
        return make_error(ErrorCode::internal,
                          fmt::format("prompt template '{}' has no part '{}'", id, part));
    }
    return substitute(it->second, vars);
}

Result<std::string> schema(std::string_view id) {
    HA_ASSIGN_OR_RETURN(const TemplateInfo* t, find(id));
    if (t->schema.empty()) {
        return make_error(ErrorCode::internal,
                          fmt::format("prompt template '{}' has no schema", id));
    }
    return t->schema;
}

}  // namespace hyperalign::prompts
