#include "users_command.hpp"

#include "files.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hyperalign/core/exit_codes.hpp"
#include "hyperalign/core/text.hpp"
#include "hyperalign/llm/response_cache.hpp"
#include "hyperalign/store/profile_store.hpp"

namespace hyperalign::cli {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using store::ProfileStore;

constexpr int kWidth = 100;
constexpr size_t kExcerptBytes = 160;
constexpr size_t kExcerptsPerHypothesis = 2;

int fail(const Error& e) {
    fmt::print(stderr, "error: {}\n", e.describe());
    return exit_code(e.code);
}

Result<fs::path> store_path(const UsersArgs& a) {
    if (!a.store.empty())
        return fs::path(a.store);
    return ProfileStore::default_path();
}

// The store, created when missing; for commands that write.
Result<ProfileStore> open_store(const UsersArgs& a) {
    HA_ASSIGN_OR_RETURN(fs::path path, store_path(a));
    return ProfileStore::open(path);
}

// The store when its file exists, nullopt when not: reading must not leave an empty store
// behind at a mistyped path.
Result<std::optional<ProfileStore>> open_existing_store(const UsersArgs& a) {
    HA_ASSIGN_OR_RETURN(fs::path path, store_path(a));
    std::error_code ec;
    if (!fs::exists(path, ec))
        return std::optional<ProfileStore>();
    HA_ASSIGN_OR_RETURN(ProfileStore store, ProfileStore::open(path));
    return std::optional<ProfileStore>(std::move(store));
}

Error no_store(const UsersArgs& a) {
    Error e = make_error(ErrorCode::not_found,
                         "no profile store here (add a profile with `hyperalign users import`)");
    e.file = store_path(a).ok() ? store_path(a)->string() : a.store;
    return e;
}

std::string plural(int64_t n, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

// `s` on lines of at most `width` bytes (a longer word gets a line of its own), each after
// `indent` spaces; the first line's indent is the caller's. Control characters become '?': the
// text may be a model's output, which must not drive the terminal.
std::string wrap(std::string_view s, size_t indent, size_t width = kWidth) {
    std::string out;
    size_t column = indent;
    std::istringstream words{std::string(s)};
    std::string word;
    while (words >> word) {
        std::replace_if(
            word.begin(), word.end(),
            [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }, '?');
        if (column > indent && column + 1 + word.size() > width) {
            out += "\n" + std::string(indent, ' ');
            column = indent;
        } else if (column > indent) {
            out += ' ';
            ++column;
        }
        out += word;
        column += word.size();
    }
    return out;
}

// The start of a text on one line: whitespace runs become one space, and a text longer than
// kExcerptBytes is cut at the last word boundary before it, with an ellipsis.
std::string excerpt(std::string_view s) {
    std::string flat;
    bool gap = false;
    for (char c : s) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            gap = true;
            continue;
        }
        if (gap && !flat.empty())
            flat += ' ';
        gap = false;
        flat += c;
    }
    if (flat.size() <= kExcerptBytes)
        return flat;
    std::string_view cut = text::utf8_prefix(flat, kExcerptBytes);
    if (size_t space = cut.rfind(' '); space != std::string_view::npos && space > 0)
        cut = cut.substr(0, space);
    while (!cut.empty() && std::string_view(",;:-").find(cut.back()) != std::string_view::npos)
        cut.remove_suffix(1);
    return std::string(cut) + "…";
}

void print_attributes(const Attributes& a) {
    fmt::print("Attributes\n");
    if (a.empty()) {
        fmt::print("  none recorded\n");
        return;
    }
    const std::pair<const char*, const std::vector<std::string>*> groups[] = {
        {"Writing style", &a.writing_style},
        {"Personality", &a.personality},
        {"Communication", &a.communication},
        {"Background", &a.background}};
    for (const auto& [title, items] : groups) {
        if (items->empty())
            continue;
        fmt::print("  {}\n", title);
        for (const auto& item : *items)
            fmt::print("    - {}\n", wrap(item, 6));
    }
}

const ProfileDemonstration* find_demo(const Profile& p, const std::string& id) {
    auto it = std::find_if(p.demonstrations.begin(), p.demonstrations.end(),
                           [&](const ProfileDemonstration& d) { return d.id == id; });
    return it == p.demonstrations.end() ? nullptr : &*it;
}

void print_hypothesis(const Profile& p, size_t rank, const Hypothesis& h) {
    const std::string score = h.visits == 0
                                  ? std::string("untested")
                                  : fmt::format("{:.0f}% accurate over {}", h.accuracy * 100,
                                                plural(h.visits, "visit", "visits"));
    std::string marks;
    if (h.pinned)
        marks += ", pinned";
    if (h.source == "person")
        marks += ", added by hand";
    fmt::print("  {:>2}. {}{}\n", rank, score, marks);
    fmt::print("      {}\n", wrap(h.text, 6));

    // Excerpts of the person's own texts the hypothesis picked out correctly.
    size_t shown = 0;
    for (const auto& id : h.evidence) {
        if (shown == kExcerptsPerHypothesis)
            break;
        const ProfileDemonstration* d = find_demo(p, id);
        if (d == nullptr)
            continue;
        fmt::print("      > \"{}\" ({})\n", wrap(excerpt(d->text), 9), id);
        ++shown;
    }
}

void print_profile(const Profile& p) {
    fmt::print("{}: profile version {}", p.person, p.version);
    if (!p.provenance.created_at.empty())
        fmt::print(", made {}", p.provenance.created_at);
    if (!p.provenance.model.empty())
        fmt::print(" with {}", fs::path(p.provenance.model).filename().string());
    fmt::print(" from {}\n\n", plural(int64_t(p.demonstrations.size()), "text", "texts"));

    print_attributes(p.attributes);
    fmt::print("\nHypotheses, best first (accuracy: how often it picked {}'s own text)\n",
               p.person);
    if (p.hypotheses.empty())
        fmt::print("  none\n");
    for (size_t i = 0; i < p.hypotheses.size(); ++i)
        print_hypothesis(p, i + 1, p.hypotheses[i]);
}

int run_list(const UsersArgs& a) {
    auto store = open_existing_store(a);
    if (!store.ok())
        return fail(store.error());
    std::vector<store::PersonSummary> people;
    if (store->has_value()) {
        auto listed = (*store)->list();
        if (!listed.ok())
            return fail(listed.error());
        people = std::move(listed).value();
    }
    const std::string path = store_path(a)->string();

    if (a.json) {
        Json rows = Json::array();
        for (const auto& s : people) {
            rows.push_back(Json{{"person", s.name},
                                {"version", s.latest_version},
                                {"hypotheses", s.hypotheses},
                                {"demonstrations", s.demonstrations},
                                {"updated_at", s.updated_at}});
        }
        std::cout << Json{{"store", path}, {"people", rows}}.dump(-1, ' ', false,
                                                                  Json::error_handler_t::replace)
                  << "\n";
        return 0;
    }
    if (people.empty()) {
        fmt::print("no one in the profile store {}\n", path);
        return 0;
    }
    size_t name_width = 6;
    for (const auto& s : people)
        name_width = std::max(name_width, s.name.size());
    fmt::print("{:<{}}  {:>7}  {:>10}  {:>5}  {}\n", "PERSON", name_width, "VERSION", "HYPOTHESES",
               "TEXTS", "UPDATED");
    for (const auto& s : people) {
        fmt::print("{:<{}}  {:>7}  {:>10}  {:>5}  {}\n", s.name, name_width, s.latest_version,
                   s.hypotheses, s.demonstrations, s.updated_at);
    }
    return 0;
}

int run_show(const UsersArgs& a) {
    auto store = open_existing_store(a);
    if (!store.ok())
        return fail(store.error());
    if (!store->has_value())
        return fail(no_store(a));
    auto profile = a.version > 0 ? (*store)->version(a.name, a.version) : (*store)->latest(a.name);
    if (!profile.ok())
        return fail(profile.error());
    if (a.json)
        std::cout << to_json(*profile);
    else
        print_profile(*profile);
    return 0;
}

int run_export(const UsersArgs& a) {
    auto store = open_existing_store(a);
    if (!store.ok())
        return fail(store.error());
    if (!store->has_value())
        return fail(no_store(a));
    auto doc = (*store)->export_person(a.name);
    if (!doc.ok())
        return fail(doc.error());
    if (a.output.empty()) {
        std::cout << *doc;
        return 0;
    }
    if (auto st = write_file(a.output, *doc); !st.ok())
        return fail(st.error());
    fmt::print(stderr, "wrote everything stored about '{}' to {}\n", a.name, a.output);
    return 0;
}

int run_import(const UsersArgs& a) {
    auto text = read_file(a.profile);
    if (!text.ok())
        return fail(text.error());
    auto profile = profile_from_json(*text, a.profile);
    if (!profile.ok())
        return fail(profile.error());
    // Cached replies are recorded under the name the profile was made for; storing it under
    // another would leave them out of `users delete`.
    if (!profile->person.empty() && profile->person != a.name) {
        Error e = make_error(ErrorCode::invalid_input,
                             fmt::format("the profile is of '{}', not '{}'; import it under its "
                                         "own name, so that `users delete` finds its cached "
                                         "replies too",
                                         profile->person, a.name));
        e.file = a.profile;
        e.field = "person";
        return fail(e);
    }
    if (profile->person.empty()) {
        fmt::print(stderr,
                   "note: the profile names no person, so the model replies cached while making "
                   "it are not tied to '{}' and `users delete` cannot remove them\n",
                   a.name);
    }
    profile->person = a.name;

    auto store = open_store(a);
    if (!store.ok())
        return fail(store.error());
    auto version = store->put_profile(*profile);
    if (!version.ok())
        return fail(version.error());
    Json summary{{"source", a.profile},
                 {"version", *version},
                 {"hypotheses", profile->hypotheses.size()},
                 {"demonstrations", profile->demonstrations.size()}};
    auto run = store->record_run(a.name, "users import");
    Status recorded =
        run.ok() ? store->finish_run(*run, "ok",
                                     summary.dump(-1, ' ', false, Json::error_handler_t::replace))
                 : Status(run.error());
    if (!recorded.ok())
        fmt::print(stderr, "warning: the import is stored but not its run record: {}\n",
                   recorded.error().describe());
    fmt::print("stored {} as version {} of '{}' in {}\n", a.profile, *version, a.name,
               store->path().string());
    return 0;
}

// The index of the hypothesis `target` names: its number as `users show` lists it (from 1), or
// its exact text.
Result<size_t> find_hypothesis(const Profile& p, const std::string& target) {
    for (size_t i = 0; i < p.hypotheses.size(); ++i) {
        if (p.hypotheses[i].text == target)
            return i;
    }
    const bool number = !target.empty() && std::all_of(target.begin(), target.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
    });
    if (number && target.size() < 6) {
        const size_t n = std::stoul(target);
        if (n >= 1 && n <= p.hypotheses.size())
            return n - 1;
    }
    return make_error(ErrorCode::not_found,
                      fmt::format("profile version {} has no hypothesis '{}' (give its number "
                                  "from 1 to {} as `users show` lists it, or its exact text)",
                                  p.version, target, p.hypotheses.size()));
}

// Applies a hand edit to `p` (the next version) and records it in its history.
Status apply_edit(const std::string& command, const std::string& target, Profile& p) {
    auto note = [&](const char* kind, const Hypothesis& h) {
        p.history.push_back({kind, h.text, p.version, -1, h.accuracy, h.reward, "by the person"});
    };
    if (command == "add") {
        const std::string text = text::trim(target);
        if (text.empty() || !text::is_valid_utf8(text))
            return make_error(ErrorCode::invalid_input, "the hypothesis must be non-empty UTF-8");
        if (std::any_of(p.hypotheses.begin(), p.hypotheses.end(),
                        [&](const Hypothesis& h) { return h.text == text; }))
            return make_error(ErrorCode::invalid_input, "the profile already has this hypothesis");
        Hypothesis h;
        h.text = text;
        h.source = "person";
        h.origin = fmt::format("person:version {}", p.version);
        h.refresh_reward(1, 0.5);  // untested: tried first by the next update
        note("added_by_person", h);
        p.hypotheses.push_back(std::move(h));
        return {};
    }
    HA_ASSIGN_OR_RETURN(size_t i, find_hypothesis(p, target));
    Hypothesis& h = p.hypotheses[i];
    if (command == "remove") {
        note("removed_by_person", h);
        p.hypotheses.erase(p.hypotheses.begin() + long(i));
        return {};
    }
    const bool pin = command == "pin";
    if (h.pinned == pin) {
        return make_error(ErrorCode::invalid_input, fmt::format("hypothesis {} is {} pinned", i + 1,
                                                                pin ? "already" : "not"));
    }
    h.pinned = pin;
    note(pin ? "pinned" : "unpinned", h);
    return {};
}

// pin, unpin, remove, add: the person's edit of their latest profile, stored as a new version.
int run_edit(const std::string& command, const UsersArgs& a) {
    auto store = open_existing_store(a);
    if (!store.ok())
        return fail(store.error());
    if (!*store)
        return fail(no_store(a));
    ProfileStore& s = **store;
    auto profile = s.latest(a.name);
    if (!profile.ok())
        return fail(profile.error());
    profile->version += 1;
    if (auto st = apply_edit(command, a.target, *profile); !st.ok())
        return fail(st.error());
    rank_by_accuracy(profile->hypotheses);

    auto version = s.put_profile(*profile);
    if (!version.ok())
        return fail(version.error());
    const HypothesisEvent& e = profile->history.back();
    Json summary{{"edit", e.kind}, {"hypothesis", e.text}, {"version", *version}};
    auto run = s.record_run(a.name, "users " + command);
    if (run.ok())
        (void)s.finish_run(*run, "ok",
                           summary.dump(-1, ' ', false, Json::error_handler_t::replace));
    fmt::print("{}: \"{}\"; stored as version {} of '{}'\n", e.kind, wrap(e.text, 0), *version,
               a.name);
    return 0;
}

// Asks on the terminal; true only for an explicit yes.
bool confirm(const std::string& question) {
    fmt::print(stderr, "{} [y/N] ", question);
    std::fflush(stderr);
    std::string answer;
    if (!std::getline(std::cin, answer))
        return false;
    answer = text::trim(answer);
    std::transform(answer.begin(), answer.end(), answer.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return answer == "y" || answer == "yes";
}

// What the store holds about `name`, for the confirmation question.
std::string store_contents(std::optional<ProfileStore>& store, const std::string& name) {
    if (!store)
        return "nothing in the profile store";
    auto people = store->list();
    if (!people.ok())
        return "an unknown amount from the profile store";
    for (const auto& s : *people) {
        if (s.name == name) {
            return fmt::format("{} and {} from {}",
                               plural(s.latest_version, "profile version", "profile versions"),
                               plural(s.demonstrations, "text", "texts"), store->path().string());
        }
    }
    return "nothing in the profile store " + store->path().string();
}

std::string removed_text(const store::RemovedRows& r) {
    return fmt::format("{}, {}, {}, {}", plural(r.profiles, "profile version", "profile versions"),
                       plural(r.demonstrations, "demonstration", "demonstrations"),
                       plural(r.runs, "run", "runs"), plural(r.people, "person", "people"));
}

int delete_everywhere(const UsersArgs& a, std::optional<ProfileStore>& store,
                      std::optional<llm::ResponseCache>& cache, const fs::path& cache_path) {
    store::RemovedRows removed;
    if (store) {
        auto rows = store->delete_person(a.name);
        if (!rows.ok() && rows.error().code != ErrorCode::not_found)
            return fail(rows.error());
        if (rows.ok())
            removed = *rows;
    }
    int64_t replies = 0;
    if (cache) {
        auto deleted = cache->delete_person(a.name);
        if (!deleted.ok())
            return fail(deleted.error());
        replies = *deleted;
    }

    const std::string path = store_path(a)->string();
    if (removed.total() == 0 && replies == 0) {
        Error e = make_error(ErrorCode::not_found,
                             fmt::format("nothing about '{}' in the profile store, and no cached "
                                         "model replies of theirs in {}",
                                         a.name, cache_path.string()));
        e.file = path;
        return fail(e);
    }
    fmt::print("deleted everything about '{}':\n", a.name);
    fmt::print("  {}: {}\n", path,
               removed.total() > 0 ? removed_text(removed) : std::string("nothing stored"));
    fmt::print("  {}: {}\n", cache_path.string(),
               cache ? plural(replies, "cached model reply", "cached model replies")
                     : std::string("no response cache there"));
    return 0;
}

int run_delete(const UsersArgs& a) {
    if (!a.yes && !::isatty(STDIN_FILENO)) {
        fmt::print(stderr,
                   "error: refusing to delete '{}' without confirmation: standard input is not "
                   "a terminal; pass --yes to delete without asking\n",
                   a.name);
        return kExitUsage;
    }
    // Both files are opened before anything is deleted, so a bad path deletes nothing.
    auto store = open_existing_store(a);
    if (!store.ok())
        return fail(store.error());
    const fs::path cache_path = a.cache.empty() ? llm::default_cache_path() : fs::path(a.cache);
    std::optional<llm::ResponseCache> cache;
    if (std::error_code ec; fs::exists(cache_path, ec)) {
        auto opened = llm::ResponseCache::open(cache_path);
        if (!opened.ok())
            return fail(opened.error());
        cache.emplace(std::move(opened).value());
    }

    if (!a.yes &&
        !confirm(fmt::format("Delete everything about '{}': {}, and their cached model "
                             "replies from {}? This cannot be undone.",
                             a.name, store_contents(*store, a.name), cache_path.string()))) {
        fmt::print(stderr, "cancelled; nothing was deleted\n");
        return exit_code(ErrorCode::cancelled);
    }
    return delete_everywhere(a, *store, cache, cache_path);
}

}  // namespace

CLI::App* add_users_command(CLI::App& app, UsersArgs& a) {
    auto* users = app.add_subcommand(
        "users", "Read, export and delete the people in the profile store, and add profiles to it");
    users->require_subcommand(1);
    auto default_store = ProfileStore::default_path();
    const std::string store_help =
        "profile store file (default: " +
        (default_store.ok() ? default_store->string()
                            : std::string("$XDG_DATA_HOME/hyperalign/store.sqlite")) +
        ")";
    auto add_common = [&](CLI::App* cmd, bool with_name) {
        cmd->add_option("--store", a.store, store_help);
        if (with_name)
            cmd->add_option("name", a.name, "the person")->required();
        return cmd;
    };

    auto* list = add_common(users->add_subcommand("list", "List the people in the store"), false);
    list->add_flag("--json", a.json, "machine-readable output on stdout");

    auto* show =
        add_common(users->add_subcommand("show",
                                         "Show a person's profile: attributes, then hypotheses "
                                         "with their accuracy and excerpts of the evidence"),
                   true);
    show->add_option("--version", a.version, "the profile version (default: the latest)")
        ->check(CLI::PositiveNumber);
    show->add_flag("--json", a.json, "print the profile JSON");

    auto* exp =
        add_common(users->add_subcommand("export",
                                         "Write everything stored about a person as one JSON "
                                         "document: every profile version, text and run"),
                   true);
    exp->add_option("-o,--output", a.output, "the file to write (default: stdout)");

    auto* del =
        add_common(users->add_subcommand("delete",
                                         "Delete a person from the store and their replies from "
                                         "the response cache"),
                   true);
    del->add_option("--cache", a.cache,
                    "response cache file (default: " + llm::default_cache_path().string() + ")");
    del->add_flag("-y,--yes", a.yes, "do not ask for confirmation");

    auto* imp = add_common(
        users->add_subcommand("import", "Add a profile JSON file as the person's next version"),
        true);
    imp->add_option("-p,--profile", a.profile, "profile JSON written by `profile`")->required();

    // Hand edits of the latest profile, each stored as a new version.
    const std::pair<const char*, const char*> edits[] = {
        {"pin", "Keep a hypothesis whatever its score, and show it first"},
        {"unpin", "Let a pinned hypothesis compete again"},
        {"remove", "Remove a hypothesis; learning never adds it back"},
    };
    for (const auto& [name, help] : edits) {
        add_common(users->add_subcommand(name, help), true)
            ->add_option("hypothesis", a.target,
                         "its number as `users show` lists it, or its exact text")
            ->required();
    }
    add_common(users->add_subcommand("add", "Add a hypothesis of your own; learning keeps it"),
               true)
        ->add_option("text", a.target, "the hypothesis")
        ->required();
    return users;
}

int run_users(const CLI::App& users, const UsersArgs& a) {
    const auto chosen = users.get_subcommands();
    if (chosen.empty())
        return kExitUsage;
    const std::string command = chosen.front()->get_name();
    if (command == "list")
        return run_list(a);
    if (a.name.empty() || !text::is_valid_utf8(a.name)) {
        fmt::print(stderr, "error: the person's name must be non-empty UTF-8\n");
        return kExitUsage;
    }
    if (command == "show")
        return run_show(a);
    if (command == "export")
        return run_export(a);
    if (command == "delete")
        return run_delete(a);
    if (command == "import")
        return run_import(a);
    if (command == "pin" || command == "unpin" || command == "remove" || command == "add")
        return run_edit(command, a);
    return kExitUsage;
}

}  // namespace hyperalign::cli
