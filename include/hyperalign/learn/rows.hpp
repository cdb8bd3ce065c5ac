#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hyperalign::learn {

// The two shapes of labelled row the hypothesis engine learns from.
enum class RowShape {
    pair,      // a task and two texts; the label says which one the person wrote
    labelled,  // one text and its label (this author / another; safe / unsafe request)
};

struct PairRow {
    std::string id;
    std::string prompt;
    std::string person_text;
    std::string other_text;
    bool person_first = true;  // the person's text is shown as "A"

    const std::string& text_a() const { return person_first ? person_text : other_text; }
    const std::string& text_b() const { return person_first ? other_text : person_text; }
    const char* answer() const { return person_first ? "A" : "B"; }
};

struct LabelledRow {
    std::string id;
    std::string text;
    std::string label;
};

// A learning task: rows of one shape. For labelled rows, `labels` lists the legal labels and
// `task_description` tells the model what they mean.
struct TaskRows {
    RowShape shape = RowShape::pair;
    std::vector<PairRow> pairs;
    std::vector<LabelledRow> labelled;
    std::vector<std::string> labels;
    std::string task_description;

    size_t size() const { return shape == RowShape::pair ? pairs.size() : labelled.size(); }
    const std::string& id(size_t i) const {
        return shape == RowShape::pair ? pairs[i].id : labelled[i].id;
    }
};

// A seeded, balanced draw of positions: exactly floor(n/2) or ceil(n/2) of n rows get the
// person's text first, in an order that depends only on `seed` (own Fisher-Yates over
// mt19937_64, so it is the same with every standard library).
std::vector<bool> balanced_positions(size_t n, uint64_t seed);

}  // namespace hyperalign::learn
