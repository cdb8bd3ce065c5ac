#pragma once

#include <string>
#include <utility>
#include <vector>

namespace hyperalign {

// One text the person wrote, with the task it answers.
struct Demonstration {
    std::string id;               // from the input, or "<file stem>:<line>" / the .txt file name
    std::string prompt;           // the task the text answers
    bool prompt_derived = false;  // true when `prompt` was made from the text's first sentence
    std::string text;

    // Where the row came from, for error messages and provenance.
    std::string source_file;
    int source_line = 0;  // 1-based; 0 for whole-file sources

    // Input fields the loader does not use, kept verbatim: key -> JSON value as text.
    std::vector<std::pair<std::string, std::string>> metadata;
};

}  // namespace hyperalign
