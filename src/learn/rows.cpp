#include "hyperalign/learn/rows.hpp"

#include <random>

namespace hyperalign::learn {

std::vector<bool> balanced_positions(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<bool> first(n, false);
    // The odd row out goes either way by the seed, so neither position is favoured overall.
    size_t n_first = n / 2 + ((n % 2 == 1) ? size_t(rng() & 1u) : 0);
    for (size_t i = 0; i < n_first; ++i)
        first[i] = true;
    for (size_t i = n; i > 1; --i) {
        // Unbiased draw in [0, i) by rejection.
        const uint64_t bound = uint64_t(i);
        const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
        uint64_t r;
        do
            r = rng();
        while (r >= limit);
        size_t j = size_t(r % bound);
        bool tmp = first[i - 1];
        first[i - 1] = first[j];
        first[j] = tmp;
    }
    return first;
}

}  // namespace hyperalign::learn
