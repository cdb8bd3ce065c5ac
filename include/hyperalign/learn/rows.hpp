#pragma once

#include <cstdint>
#include <random>
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
// person's text first, in an order that depends only on `seed` (seeded_shuffle over
// mt19937_64(seed)).
std::vector<bool> balanced_positions(size_t n, uint64_t seed);

// A draw in [0, bound) from `rng`, bound > 0, unbiased by rejection. Unlike
// std::uniform_int_distribution it gives the same numbers with every standard library.
size_t uniform_below(std::mt19937_64& rng, size_t bound);

// Shuffles `items` in place (Fisher-Yates from the back, one uniform_below draw per position),
// so the order depends only on the generator's state and is the same everywhere.
template <typename T>
void seeded_shuffle(std::vector<T>& items, std::mt19937_64& rng) {
    for (size_t i = items.size(); i > 1; --i) {
        using std::swap;
        swap(items[i - 1], items[uniform_below(rng, i)]);
    }
}

// A permutation of 0..n-1 that depends only on `seed`: the identity, seeded_shuffle'd with
// mt19937_64(seed).
std::vector<size_t> seeded_permutation(size_t n, uint64_t seed);

}  // namespace hyperalign::learn
