#pragma once

#include <string_view>
#include <vector>

namespace hyperalign::prompts::detail {

// The files of prompts/, embedded at build time (cmake/embed_prompts.cmake).
struct EmbeddedFile {
    std::string_view name;
    std::string_view content;
};

const std::vector<EmbeddedFile>& embedded_files();

}  // namespace hyperalign::prompts::detail
