#pragma once

#include <functional>
#include <string_view>

namespace hyperalign::learn {

// Reports progress of a long step: its name, units done and total. The CLI draws it on stderr.
using Progress = std::function<void(std::string_view step, size_t done, size_t total)>;

}  // namespace hyperalign::learn
