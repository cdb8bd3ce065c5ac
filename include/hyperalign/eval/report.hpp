#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hyperalign/core/result.hpp"

namespace hyperalign::eval {

// An evaluation's results as a person reads them (Markdown, HTML with charts) and as a program
// reads them (JSON). Generic: the authorship and the safety evaluations both fill one. Every
// string is plain UTF-8 text; the writer escapes it for each format (invalid UTF-8 becomes
// U+FFFD).

// A table of preformatted cells. Rows shorter than the header are padded with empty cells;
// longer rows widen the table.
struct Table {
    std::string title;
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
};

// One bar: `series` within `group` (e.g. method within dataset), with an interval [low, high]
// drawn as an error bar (low == high == value draws none). A NaN value draws no bar.
struct BarPoint {
    std::string group;
    std::string series;
    double value = 0, low = 0, high = 0;
};

// Grouped bars. Groups and series appear in the order they first occur in `points`. `id` names
// the chart file (charts/<id>.svg): letters, digits, '-' and '_', unique within the report.
struct BarChart {
    std::string id;
    std::string title;
    std::string y_label;
    double y_min = 0, y_max = 1;
    std::vector<BarPoint> points;
};

// A grid of values coloured on a scale from v_min to v_max; values[r][c] belongs to rows[r]
// and columns[c]; NaN marks a cell without data (left blank). Values are printed in the cells
// when the grid is small enough to read them.
struct Heatmap {
    std::string id;
    std::string title;
    std::vector<std::string> rows;
    std::vector<std::string> columns;
    std::vector<std::vector<double>> values;
    double v_min = 0, v_max = 1;
};

struct Report {
    std::string title;
    std::vector<std::string> paragraphs;  // plain text, one paragraph each
    std::vector<Table> tables;
    std::vector<BarChart> bars;
    std::vector<Heatmap> heatmaps;
    nlohmann::json data;  // machine-readable results, written to report.json as they are
};

// Writes into `dir` (created with its parents when missing):
//   report.json  {"title", "paragraphs", "data", "tables": [{"title", "header", "rows"}],
//                 "charts": [{"id", "kind": "bars"|"heatmap", "title", "file"}]}
//                 ("file" is null for a chart that was not drawn),
//   report.md    title, paragraphs, tables, and links to the charts,
//   report.html  one self-contained page (inline CSS and script, no network) linking the charts
//                as images; on load its script sets <body data-charts-rendered="N"> to the number
//                of chart images shown with a non-zero size, next to data-charts-expected="M"
//                (the number of charts in `report`), for scripts/check-report.sh,
//   charts/<id>.svg for each chart, drawn by gnuplot (run from PATH as a subprocess), next to
//                charts/<id>.gp, the script that drew it (`cd charts && gnuplot <id>.gp` redraws).
// Fails before writing anything with invalid_input (naming the field) on a bad or repeated
// chart id, or a heatmap whose values do not match its rows and columns. When gnuplot is
// missing (not_found) or fails (backend_unavailable), the report is still written without the
// charts it could not draw, the HTML and Markdown say so, and that error is returned after
// everything else was written. I/O failures return internal naming the file. Not thread-safe
// for the same `dir`.
Status write_report(const Report& report, const std::filesystem::path& dir);

}  // namespace hyperalign::eval
