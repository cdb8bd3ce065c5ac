#pragma once

#include <string>
#include <vector>

namespace hyperalign {

// A readable statement about the person (or about a labelling task) with the record of how well
// it predicted held rows, as HypoGenic keeps it.
struct Hypothesis {
    std::string text;
    int visits = 0;       // rows it was tested on
    int correct = 0;      // rows it predicted right
    int invalid = 0;      // visits whose reply could not be parsed (counted as wrong)
    double accuracy = 0;  // correct / visits, 0 when unvisited
    double reward = 0;    // accuracy + alpha * sqrt(ln t / visits), HypoGenic's UCB score
    // Ids of the rows it predicted right: the evidence shown with it.
    std::vector<std::string> evidence;
    std::string origin;              // how it entered the bank, e.g. "init:batch 2"
    std::string source = "learned";  // "learned", or "person" when the person added it by hand
    bool pinned = false;             // the person wants it kept, and shown first

    // Whether the person asked for it (added or pinned it): learning never drops it.
    bool kept_by_person() const { return pinned || source == "person"; }

    // Records one more visit and refreshes accuracy and reward; t is the 1-based index of the
    // current training row (HypoGenic's current_sample).
    void record_visit(bool right, bool unparseable, const std::string& row_id, int t, double alpha);
    void refresh_reward(int t, double alpha);
};

// Sorts pinned hypotheses first, then by accuracy (descending), then visits (descending); stable.
void rank_by_accuracy(std::vector<Hypothesis>& hypotheses);

}  // namespace hyperalign
