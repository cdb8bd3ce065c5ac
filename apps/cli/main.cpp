#include <csignal>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "eval_command.hpp"
#include "hyperalign/core/exit_codes.hpp"
#include "hyperalign/core/log.hpp"
#include "users_command.hpp"

namespace {

using hyperalign::log::Level;

spdlog::level::level_enum to_spdlog(Level level) {
    switch (level) {
        case Level::trace:
            return spdlog::level::trace;
        case Level::debug:
            return spdlog::level::debug;
        case Level::info:
            return spdlog::level::info;
        case Level::warn:
            return spdlog::level::warn;
        case Level::error:
            return spdlog::level::err;
    }
    return spdlog::level::info;
}

void setup_logging(const std::string& level_name) {
    auto logger = spdlog::stderr_color_mt("hyperalign");
    logger->set_pattern("%^%l%$: %v");
    spdlog::set_default_logger(logger);
    Level level = Level::warn;
    if (level_name == "trace")
        level = Level::trace;
    if (level_name == "debug")
        level = Level::debug;
    if (level_name == "info")
        level = Level::info;
    if (level_name == "error")
        level = Level::error;
    spdlog::set_level(to_spdlog(level));
    hyperalign::log::set_level(level);
    hyperalign::log::set_sink(
        [](Level lvl, std::string_view msg) { spdlog::log(to_spdlog(lvl), "{}", msg); });
}

// The first Ctrl-C asks the run to stop after the current token, keeping what it finished; a
// second one ends the process at once.
void on_interrupt(int) {
    hyperalign::cli::interrupted().store(true);
    std::signal(SIGINT, SIG_DFL);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace hyperalign::cli;
    CLI::App app{
        "hyperalign: write as a specific person, from a few texts they wrote.\n"
        "Learns readable hypotheses about the person (HyPerAlign) and conditions "
        "generation on them."};
    app.set_version_flag("--version", std::string(HYPERALIGN_VERSION));
    app.require_subcommand(1);
    std::string log_level = "warn";
    app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

    ModelArgs model;
    ProfileArgs profile;
    GenerateArgs gen;
    CommonArgs common;

    auto* profile_cmd = app.add_subcommand("profile", "Learn a person's profile from their texts");
    add_model_options(*profile_cmd, model);
    add_profile_options(*profile_cmd, profile, true);
    add_common_options(*profile_cmd, common);
    auto* update_cmd = add_profile_store_options(*profile_cmd, profile);

    auto* gen_cmd = app.add_subcommand("generate", "Write as the person a profile describes");
    add_model_options(*gen_cmd, model);
    add_generate_options(*gen_cmd, gen, true);
    add_common_options(*gen_cmd, common);

    auto* pers_cmd = app.add_subcommand(
        "personalize", "Learn a profile from texts and write the task(s) with it, in one go");
    add_model_options(*pers_cmd, model);
    add_profile_options(*pers_cmd, profile, false);
    add_generate_options(*pers_cmd, gen, false);
    add_common_options(*pers_cmd, common);

    auto* tmpl_cmd = app.add_subcommand("chat-templates", "List the built-in chat template names");

    UsersArgs users;
    auto* users_cmd = add_users_command(app, users);

    EvalArgs eval;
    auto* eval_cmd = add_eval_command(app, eval);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : hyperalign::kExitUsage;
    }
    setup_logging(log_level);
    std::signal(SIGINT, on_interrupt);

    if (*profile_cmd) {
        return *update_cmd ? run_profile_update(model, profile, common)
                           : run_profile(model, profile, common);
    }
    if (*gen_cmd)
        return run_generate(model, gen, common);
    if (*pers_cmd)
        return run_personalize(model, profile, gen, common);
    if (*tmpl_cmd)
        return run_chat_templates();
    if (*users_cmd)
        return run_users(*users_cmd, users);
    if (*eval_cmd)
        return run_eval(*eval_cmd, eval);
    return hyperalign::kExitUsage;
}
