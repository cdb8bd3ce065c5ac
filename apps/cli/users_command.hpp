#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace hyperalign::cli {

// The options of `hyperalign users <list|show|export|delete|import|pin|unpin|remove|add>`; each
// subcommand reads the ones it declares.
struct UsersArgs {
    std::string store;    // --store: the profile store (default ProfileStore::default_path())
    std::string name;     // the person
    int version = 0;      // show --version (0: the latest)
    bool json = false;    // list / show --json
    std::string output;   // export -o (default: stdout)
    std::string cache;    // delete --cache (default llm::default_cache_path())
    bool yes = false;     // delete --yes: no confirmation
    std::string profile;  // import --profile
    std::string target;   // pin / unpin / remove: a hypothesis's number or text; add: the text
};

// Adds the `users` command and its subcommands to `app`, bound to `args`; returns it.
CLI::App* add_users_command(CLI::App& app, UsersArgs& args);

// Runs the `users` subcommand that was parsed; returns the process exit code.
int run_users(const CLI::App& users, const UsersArgs& args);

}  // namespace hyperalign::cli
