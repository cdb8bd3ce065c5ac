#include "hyperalign/core/hypothesis.hpp"

#include <algorithm>
#include <cmath>

namespace hyperalign {

void Hypothesis::refresh_reward(int t, double alpha) {
    accuracy = visits > 0 ? double(correct) / double(visits) : 0.0;
    // With no visits the exploration bonus is unbounded; HypoGenic never scores an unvisited
    // hypothesis, so give it the largest finite reward to have it tested first.
    if (visits == 0) {
        reward = 1.0 + alpha * 1e6;
        return;
    }
    double lt = t > 1 ? std::log(double(t)) : 0.0;
    reward = accuracy + alpha * std::sqrt(lt / double(visits));
}

void Hypothesis::record_visit(bool right, bool unparseable, const std::string& row_id, int t,
                              double alpha) {
    ++visits;
    if (right) {
        ++correct;
        evidence.push_back(row_id);
    }
    if (unparseable)
        ++invalid;
    refresh_reward(t, alpha);
}

void rank_by_accuracy(std::vector<Hypothesis>& hypotheses) {
    std::stable_sort(hypotheses.begin(), hypotheses.end(),
                     [](const Hypothesis& a, const Hypothesis& b) {
                         if (a.pinned != b.pinned)
                             return a.pinned;
                         if (a.accuracy != b.accuracy)
                             return a.accuracy > b.accuracy;
                         return a.visits > b.visits;
                     });
}

}  // namespace hyperalign
