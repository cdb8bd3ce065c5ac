#include "hyperalign/core/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

namespace hyperalign::log {
namespace {

std::mutex& sink_mutex() {
    static std::mutex m;
    return m;
}

Sink& current_sink() {
    static Sink sink = [](Level lvl, std::string_view msg) {
        if (lvl >= Level::warn)
            std::fprintf(stderr, "%.*s\n", int(msg.size()), msg.data());
    };
    return sink;
}

std::atomic<Level>& current_level() {
    static std::atomic<Level> lvl{Level::info};
    return lvl;
}

}  // namespace

void set_sink(Sink sink) {
    std::lock_guard lock(sink_mutex());
    current_sink() = std::move(sink);
}

void set_level(Level lvl) {
    current_level().store(lvl);
}
Level level() {
    return current_level().load();
}
bool enabled(Level lvl) {
    return lvl >= current_level().load();
}

void write(Level lvl, std::string_view message) {
    std::lock_guard lock(sink_mutex());
    if (current_sink())
        current_sink()(lvl, message);
}

}  // namespace hyperalign::log
