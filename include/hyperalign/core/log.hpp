#pragma once

#include <functional>
#include <string_view>

#include <fmt/format.h>

namespace hyperalign::log {

// The library logs through this facade only; an application installs a sink (the CLI routes
// it to spdlog). People's texts, prompts, profiles and completions are personal data: log them
// at trace level only, and never log API keys.
enum class Level { trace, debug, info, warn, error };

using Sink = std::function<void(Level, std::string_view)>;

// Installs the sink (thread-safe); an empty sink drops every message. The default sink writes
// warn and above to stderr.
void set_sink(Sink sink);
void set_level(Level level);
Level level();
bool enabled(Level level);
void write(Level level, std::string_view message);

template <typename... Args>
void trace(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::trace))
        write(Level::trace, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::debug))
        write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::info))
        write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::warn))
        write(Level::warn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::error))
        write(Level::error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace hyperalign::log
