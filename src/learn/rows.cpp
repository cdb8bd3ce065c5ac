#include "hyperalign/learn/rows.hpp"

#include <numeric>

namespace hyperalign::learn {

size_t uniform_below(std::mt19937_64& rng, size_t bound) {
    const uint64_t b = uint64_t(bound);
    const uint64_t limit = UINT64_MAX - UINT64_MAX % b;
    uint64_t r;
    do
        r = rng();
    while (r >= limit);
    return size_t(r % b);
}

std::vector<bool> balanced_positions(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<bool> first(n, false);
    // The odd row out goes either way by the seed, so neither position is favoured overall.
    size_t n_first = n / 2 + ((n % 2 == 1) ? size_t(rng() & 1u) : 0);
    for (size_t i = 0; i < n_first; ++i)
        first[i] = true;
    seeded_shuffle(first, rng);
    return first;
}

std::vector<size_t> seeded_permutation(size_t n, uint64_t seed) {
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t(0));
    std::mt19937_64 rng(seed);
    seeded_shuffle(order, rng);
    return order;
}

}  // namespace hyperalign::learn
