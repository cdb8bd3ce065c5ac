#include "hyperalign/eval/report.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include <fmt/format.h>

#include "hyperalign/core/text.hpp"

extern char** environ;

namespace hyperalign::eval {

namespace fs = std::filesystem;

namespace {

constexpr std::chrono::seconds kGnuplotTimeout{60};
constexpr size_t kMaxCellsWithValues = 150;  // a larger heatmap shows colours only
constexpr size_t kMaxTicChars = 40;          // longer axis labels are shortened
// Colour-blind-safe series colours (Okabe and Ito's palette).
constexpr const char* kSeriesColours[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                          "#56B4E9", "#D55E00", "#F0E442", "#000000"};

// The result of drawing one chart.
struct ChartOut {
    std::string id;
    std::string kind;
    std::string title;
    bool drawn = false;
};

Error io_error(const fs::path& path, const std::string& what) {
    Error e = make_error(ErrorCode::internal, what);
    e.file = path.string();
    return e;
}

Status write_file(const fs::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out)
        return io_error(path, "cannot write the file");
    return {};
}

// --- Escaping -------------------------------------------------------------------------------

std::string html(std::string_view s) {
    std::string out;
    for (char c : text::to_valid_utf8(s)) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

// Inline Markdown text: punctuation that could start markup is backslash-escaped, and line
// breaks become spaces (a table cell or heading is one line).
std::string md_inline(std::string_view s) {
    std::string out;
    for (char c : text::to_valid_utf8(s)) {
        if (c == '\n' || c == '\r' || c == '\t') {
            out += ' ';
            continue;
        }
        if (std::string_view("\\`*_{}[]<>#|~&").find(c) != std::string_view::npos)
            out += '\\';
        out += c;
    }
    return out;
}

// A Markdown paragraph keeps its line breaks; each line is inline text that must not start a
// list item or underline a heading.
std::string md_paragraph(std::string_view s) {
    std::string out;
    std::istringstream lines{std::string(s)};
    for (std::string line; std::getline(lines, line);) {
        std::string escaped = md_inline(text::trim(line));
        if (escaped.empty())
            continue;
        const size_t digits = escaped.find_first_not_of("0123456789");
        if (escaped[0] == '-' || escaped[0] == '+' || escaped[0] == '=')
            escaped.insert(0, 1, '\\');
        else if (digits > 0 && digits != std::string::npos &&
                 (escaped[digits] == '.' || escaped[digits] == ')'))
            escaped.insert(digits, 1, '\\');
        out += out.empty() ? "" : "\n";
        out += escaped;
    }
    return out;
}

// A gnuplot single-quoted string: no escape sequences are processed inside it except '' for a
// quote, and the terminal runs without enhanced text, so only quotes and line breaks need care.
std::string gp_quote(std::string_view s) {
    std::string out = "'";
    for (char c : text::to_valid_utf8(s)) {
        if (c == '\'')
            out += "''";
        else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            out += ' ';
        else
            out += c;
    }
    return out + "'";
}

std::string gp_number(double v) {
    return std::isfinite(v) ? fmt::format("{:.10g}", v) : "NaN";
}

// --- Validation -----------------------------------------------------------------------------

Error invalid(const std::string& field, const std::string& message) {
    Error e = make_error(ErrorCode::invalid_input, message);
    e.field = field;
    return e;
}

bool valid_id(const std::string& id) {
    if (id.empty() || id.size() > 100 || id[0] == '.')
        return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
}

Status check_id(const std::string& field, const std::string& id, std::set<std::string>& seen) {
    if (!valid_id(id)) {
        return invalid(field,
                       "a chart id must be 1-100 letters, digits, '-', '_' or '.', and "
                       "not start with '.'");
    }
    if (!seen.insert(id).second)
        return invalid(field, fmt::format("chart id '{}' is used twice", id));
    return {};
}

bool ordered(double low, double high) {
    return std::isfinite(low) && std::isfinite(high) && low < high;
}

Status validate(const Report& report) {
    std::set<std::string> seen;
    for (size_t i = 0; i < report.bars.size(); ++i) {
        const BarChart& c = report.bars[i];
        const std::string field = fmt::format("bars[{}]", i);
        HA_TRY(check_id(field + ".id", c.id, seen));
        if (!ordered(c.y_min, c.y_max))
            return invalid(field, "y_min must be below y_max, both finite");
    }
    for (size_t i = 0; i < report.heatmaps.size(); ++i) {
        const Heatmap& h = report.heatmaps[i];
        const std::string field = fmt::format("heatmaps[{}]", i);
        HA_TRY(check_id(field + ".id", h.id, seen));
        if (!ordered(h.v_min, h.v_max))
            return invalid(field, "v_min must be below v_max, both finite");
        if (h.values.size() != h.rows.size()) {
            return invalid(field + ".values", fmt::format("{} rows of values for {} row labels",
                                                          h.values.size(), h.rows.size()));
        }
        for (size_t r = 0; r < h.values.size(); ++r) {
            if (h.values[r].size() != h.columns.size()) {
                return invalid(
                    fmt::format("{}.values[{}]", field, r),
                    fmt::format("{} values for {} columns", h.values[r].size(), h.columns.size()));
            }
        }
    }
    return {};
}

// --- Gnuplot scripts ------------------------------------------------------------------------

template <typename T>
size_t index_of(std::vector<T>& items, const T& item) {
    auto it = std::find(items.begin(), items.end(), item);
    if (it != items.end())
        return static_cast<size_t>(it - items.begin());
    items.push_back(item);
    return items.size() - 1;
}

size_t code_points(std::string_view s) {
    return static_cast<size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// At most `max_chars` characters, the last an ellipsis when `s` was longer: an axis keeps its
// room for the plot.
std::string shorten(const std::string& s, size_t max_chars) {
    const std::string valid = text::to_valid_utf8(s);
    if (code_points(valid) <= max_chars)
        return valid;
    std::string out;
    size_t kept = 0;
    for (char c : valid) {
        const bool starts = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        if (starts && ++kept == max_chars)
            break;
        out += c;
    }
    return out + "\u2026";
}

size_t widest(const std::vector<std::string>& labels) {
    size_t n = 0;
    for (const auto& l : labels)
        n = std::max(n, std::min(code_points(l), kMaxTicChars));
    return n;
}

// "('a' 0, 'b' 1)" for set xtics: labels are placed by the script, never read from data.
std::string tics(const std::vector<std::string>& labels) {
    std::string out;
    for (size_t i = 0; i < labels.size(); ++i)
        out += fmt::format("{}{} {}", i ? ", " : "", gp_quote(shorten(labels[i], kMaxTicChars)), i);
    return "(" + out + ")";
}

int clamp_size(size_t pixels, size_t low, size_t high) {
    return static_cast<int>(std::clamp(pixels, low, high));
}

// The script runs in the charts folder and writes <id>.svg there.
std::string preamble(const std::string& id, int width, int height, const std::string& title) {
    return fmt::format(
        "set encoding utf8\n"
        "set terminal svg size {},{} noenhanced font 'sans,12' background '#ffffff'\n"
        "set termoption noenhanced\n"
        "set output {}\n"
        "set title {}\n",
        width, height, gp_quote(id + ".svg"), gp_quote(title));
}

const char* kNoData = "set label 1 'no data' at graph 0.5, graph 0.5 center\nplot NaN notitle\n";

std::string bar_script(const BarChart& chart) {
    std::vector<std::string> groups, series;
    for (const auto& p : chart.points) {
        index_of(groups, p.group);
        index_of(series, p.series);
    }
    const size_t n_groups = std::max<size_t>(groups.size(), 1);
    const size_t n_series = std::max<size_t>(series.size(), 1);
    const size_t label = widest(groups);
    const bool rotate = groups.size() > 6 || label > 14;
    const int width = clamp_size(160 + n_groups * n_series * 36, 640, 1200);
    const int height = clamp_size(440 + (rotate ? label * 5 : 0), 440, 640);
    std::string s = preamble(chart.id, width, height, chart.title);
    s += fmt::format("set ylabel {}\nset yrange [{}:{}]\nset xrange [-0.5:{}]\n",
                     gp_quote(chart.y_label), gp_number(chart.y_min), gp_number(chart.y_max),
                     gp_number(double(n_groups) - 0.5));
    s +=
        fmt::format("set xtics {} scale 0{}\n", tics(groups), rotate ? " rotate by -30 right" : "");
    s += "set grid ytics lc rgb '#dddddd'\nset key below\nset style fill solid 0.85 border -1\n";
    if (chart.points.empty())
        return s + kNoData;

    // Bars of one group sit side by side in 80% of the group's width. An interval is three
    // segments (x y dx dy): the bar and its two caps, a third of a bar wide.
    const double bar = 0.8 / double(n_series);
    s += fmt::format("set boxwidth {} absolute\n", gp_number(bar * 0.9));
    std::vector<std::string> bars(n_series);
    std::string intervals;
    for (const auto& p : chart.points) {
        const size_t g = index_of(groups, p.group), k = index_of(series, p.series);
        const double x = double(g) - 0.4 + bar * (double(k) + 0.5), cap = bar / 6;
        bars[k] += fmt::format("{} {}\n", gp_number(x), gp_number(p.value));
        if (!std::isfinite(p.value) || !ordered(p.low, p.high))
            continue;
        intervals += fmt::format("{0} {1} 0 {3}\n{4} {1} {5} 0\n{4} {2} {5} 0\n", gp_number(x),
                                 gp_number(p.low), gp_number(p.high), gp_number(p.high - p.low),
                                 gp_number(x - cap), gp_number(2 * cap));
    }
    std::string plot;
    for (size_t k = 0; k < n_series; ++k) {
        const char* colour = kSeriesColours[k % std::size(kSeriesColours)];
        s += fmt::format("$bars{} << EOD\n{}EOD\n", k, bars[k]);
        plot += fmt::format("{}$bars{} using 1:2 with boxes lc rgb '{}' title {}",
                            plot.empty() ? "" : ", \\\n  ", k, colour, gp_quote(series[k]));
    }
    if (!intervals.empty()) {
        s += fmt::format("$intervals << EOD\n{}EOD\n", intervals);
        plot += ", \\\n  $intervals using 1:2:3:4 with vectors nohead lc rgb '#333333' notitle";
    }
    return s + "plot " + plot + "\n";
}

std::string heatmap_script(const Heatmap& map) {
    const size_t n_rows = map.rows.size(), n_cols = map.columns.size();
    const size_t row_label = widest(map.rows), column_label = widest(map.columns);
    const bool rotate = n_cols > 8 || column_label > 8;
    // Room for the row labels, 64 px per column, and the colour box.
    const int width = clamp_size(180 + row_label * 7 + n_cols * 64, 420, 1600);
    const int height = clamp_size(150 + n_rows * 26 + (rotate ? column_label * 5 : 0), 300, 2000);
    std::string s = preamble(map.id, width, height, map.title);
    s += "unset key\nset style fill solid 1.0 noborder\n";
    s += fmt::format("set cbrange [{}:{}]\n", gp_number(map.v_min), gp_number(map.v_max));
    s += "set palette defined (0 '#f7fbff', 0.5 '#6baed6', 1 '#08306b')\nset colorbox\n";
    if (n_rows == 0 || n_cols == 0)
        return s + "set xrange [0:1]\nset yrange [0:1]\nunset xtics\nunset ytics\n" + kNoData;

    // The first row on top: the y axis runs downwards.
    s += fmt::format("set xrange [-0.5:{}]\nset yrange [{}:-0.5]\n",
                     gp_number(double(n_cols) - 0.5), gp_number(double(n_rows) - 0.5));
    s += fmt::format("set xtics {} scale 0{}\nset ytics {} scale 0\n", tics(map.columns),
                     rotate ? " rotate by -45 left" : "", tics(map.rows));
    std::string cells, dark, light;
    const double middle = (map.v_min + map.v_max) / 2;
    for (size_t r = 0; r < n_rows; ++r) {
        for (size_t c = 0; c < n_cols; ++c) {
            const double v = map.values[r][c];
            if (!std::isfinite(v))
                continue;
            const std::string row = fmt::format("{} {} {}\n", c, r, gp_number(v));
            cells += row;
            (v > middle ? light : dark) += row;
        }
    }
    if (cells.empty())
        return s + kNoData;
    s += fmt::format("$cells << EOD\n{}EOD\n", cells);
    std::string plot = "plot $cells using 1:2:(0.5):(0.5):3 with boxxyerror fc palette";
    if (n_rows * n_cols <= kMaxCellsWithValues) {
        // Text dark on light cells and light on dark ones.
        for (const auto& [name, rows, colour] :
             {std::tuple{"dark", &dark, "#000000"}, std::tuple{"light", &light, "#ffffff"}}) {
            if (rows->empty())
                continue;
            s += fmt::format("${} << EOD\n{}EOD\n", name, *rows);
            plot += fmt::format(
                ", \\\n  ${} using 1:2:(sprintf('%.2f', $3)) with labels "
                "tc rgb '{}' font 'sans,10'",
                name, colour);
        }
    }
    return s + plot + "\n";
}

// --- Running gnuplot ------------------------------------------------------------------------

std::string first_lines(const fs::path& path, size_t max_lines) {
    std::ifstream in(path);
    std::string out;
    std::string line;
    for (size_t n = 0; n < max_lines && std::getline(in, line); ++n)
        out += (out.empty() ? "" : " / ") + text::trim(line);
    return out;
}

// Runs `gnuplot <script>` from PATH in the folder holding the script, with its output in `log`,
// waiting at most kGnuplotTimeout.
Status run_gnuplot(const fs::path& script, const fs::path& log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addchdir_np(&actions, script.parent_path().c_str());
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    std::string program = "gnuplot", argument = script.filename().string();
    char* argv[] = {program.data(), argument.data(), nullptr};
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        return make_error(rc == ENOENT ? ErrorCode::not_found : ErrorCode::backend_unavailable,
                          fmt::format("cannot run gnuplot ({}); install it (Debian package "
                                      "gnuplot-nox) to draw the charts",
                                      std::strerror(rc)));
    }

    const auto deadline = std::chrono::steady_clock::now() + kGnuplotTimeout;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return make_error(ErrorCode::backend_unavailable,
                              fmt::format("gnuplot did not finish {} within {} s", script.string(),
                                          kGnuplotTimeout.count()));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return {};
    return make_error(ErrorCode::backend_unavailable,
                      fmt::format("gnuplot failed on {} (status {}): {}", script.string(), status,
                                  first_lines(log, 3)));
}

// Writes charts/<id>.gp and draws charts/<id>.svg from it.
Status draw(const fs::path& charts, const std::string& id, const std::string& script) {
    const fs::path svg = charts / (id + ".svg"), gp = charts / (id + ".gp"),
                   log = charts / (id + ".log");
    std::error_code ec;
    fs::remove(svg, ec);  // never link a stale chart from an earlier run
    HA_TRY(write_file(gp, script));
    Status ran = run_gnuplot(gp, log);
    fs::remove(log, ec);
    HA_TRY(ran);
    if (!fs::exists(svg) || fs::file_size(svg, ec) == 0)
        return make_error(ErrorCode::backend_unavailable,
                          "gnuplot wrote no chart to " + svg.string());
    return {};
}

// Draws every chart; stops calling gnuplot once it is known to be missing. Returns the first
// error, with `out` telling which charts were drawn.
Status draw_charts(const Report& report, const fs::path& dir, std::vector<ChartOut>& out) {
    const fs::path charts = dir / "charts";
    std::vector<std::pair<ChartOut, std::string>> jobs;
    for (const auto& c : report.bars)
        jobs.push_back({{c.id, "bars", c.title}, bar_script(c)});
    for (const auto& h : report.heatmaps)
        jobs.push_back({{h.id, "heatmap", h.title}, heatmap_script(h)});
    if (jobs.empty())
        return {};

    Status first;
    std::error_code ec;
    fs::create_directories(charts, ec);
    if (ec)
        first = io_error(charts, "cannot create the folder: " + ec.message());
    for (auto& [chart, script] : jobs) {
        if (first.ok() || first.error().code == ErrorCode::backend_unavailable) {
            Status drawn = draw(charts, chart.id, script);
            chart.drawn = drawn.ok();
            if (!drawn.ok() && first.ok())
                first = std::move(drawn);
        }
        out.push_back(chart);
    }
    return first;
}

// --- The three documents --------------------------------------------------------------------

std::string clean(std::string_view s) {
    return text::to_valid_utf8(s);
}

std::string to_json(const Report& report, const std::vector<ChartOut>& charts) {
    nlohmann::ordered_json j;
    j["title"] = clean(report.title);
    j["paragraphs"] = nlohmann::ordered_json::array();
    for (const auto& p : report.paragraphs)
        j["paragraphs"].push_back(clean(p));
    j["data"] = report.data;
    j["tables"] = nlohmann::ordered_json::array();
    for (const auto& t : report.tables) {
        nlohmann::ordered_json table{{"title", clean(t.title)}};
        table["header"] = nlohmann::ordered_json::array();
        for (const auto& h : t.header)
            table["header"].push_back(clean(h));
        table["rows"] = nlohmann::ordered_json::array();
        for (const auto& row : t.rows) {
            nlohmann::ordered_json cells = nlohmann::ordered_json::array();
            for (const auto& cell : row)
                cells.push_back(clean(cell));
            table["rows"].push_back(std::move(cells));
        }
        j["tables"].push_back(std::move(table));
    }
    j["charts"] = nlohmann::ordered_json::array();
    for (const auto& c : charts) {
        nlohmann::ordered_json file = nullptr;
        if (c.drawn)
            file = "charts/" + c.id + ".svg";
        j["charts"].push_back(
            {{"id", c.id}, {"kind", c.kind}, {"title", clean(c.title)}, {"file", file}});
    }
    return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

size_t columns_of(const Table& t) {
    size_t n = t.header.size();
    for (const auto& row : t.rows)
        n = std::max(n, row.size());
    return n;
}

std::string md_row(const std::vector<std::string>& cells, size_t columns) {
    std::string out = "|";
    for (size_t i = 0; i < columns; ++i) {
        out += ' ';
        if (i < cells.size())
            out += md_inline(cells[i]);
        out += " |";
    }
    return out + "\n";
}

std::string to_markdown(const Report& report, const std::vector<ChartOut>& charts,
                        const std::string& chart_error) {
    std::string md = "# " + md_inline(report.title) + "\n\n";
    for (const auto& p : report.paragraphs) {
        if (const std::string text = md_paragraph(p); !text.empty())
            md += text + "\n\n";
    }
    if (!charts.empty())
        md += "## Charts\n\n";
    for (const auto& c : charts) {
        if (c.drawn)
            md += fmt::format("![{}](charts/{}.svg)\n\n", md_inline(c.title), c.id);
        else
            md += fmt::format("*Chart not drawn: {}*\n\n", md_inline(c.title));
    }
    if (!chart_error.empty())
        md += "> Some charts were not drawn: " + md_inline(chart_error) + "\n\n";
    for (const auto& t : report.tables) {
        const size_t columns = columns_of(t);
        md += "## " + md_inline(t.title) + "\n\n" + md_row(t.header, columns) + "|";
        for (size_t i = 0; i < columns; ++i)
            md += " --- |";
        md += "\n";
        for (const auto& row : t.rows)
            md += md_row(row, columns);
        md += "\n";
    }
    return md;
}

// Counts, once the page has loaded, the chart images shown with a size; scripts/check-report.sh
// reads the result from the <body> attributes.
constexpr const char* kCountScript = R"(<script>
window.addEventListener('load', function () {
  var charts = document.querySelectorAll('img.chart');
  var rendered = 0;
  charts.forEach(function (img) {
    var box = img.getBoundingClientRect();
    if (img.complete && img.naturalWidth > 0 && box.width > 0 && box.height > 0) rendered++;
  });
  document.body.setAttribute('data-charts-rendered', String(rendered));
});
</script>
)";

constexpr const char* kStyle = R"(<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1, h2 { font-weight: 600; }
p { white-space: pre-line; }
figure { margin: 1.5em 0; }
img.chart { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
.notice { background: #fff4e5; border-left: 4px solid #e69f00; padding: 0.5em 1em; }
table { border-collapse: collapse; margin: 0.5em 0 2em; font-size: 0.9em; }
caption { text-align: left; font-weight: 600; padding: 0.3em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tbody tr:nth-child(even) { background: #fafafa; }
</style>
)";

std::string html_table(const Table& t) {
    const size_t columns = columns_of(t);
    std::string out = "<table>\n<caption>" + html(t.title) + "</caption>\n<thead><tr>";
    for (size_t i = 0; i < columns; ++i)
        out += "<th>" + (i < t.header.size() ? html(t.header[i]) : std::string()) + "</th>";
    out += "</tr></thead>\n<tbody>\n";
    for (const auto& row : t.rows) {
        out += "<tr>";
        for (size_t i = 0; i < columns; ++i)
            out += "<td>" + (i < row.size() ? html(row[i]) : std::string()) + "</td>";
        out += "</tr>\n";
    }
    return out + "</tbody>\n</table>\n";
}

std::string to_html(const Report& report, const std::vector<ChartOut>& charts,
                    const std::string& chart_error) {
    std::string page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    page += "<title>" + html(report.title) + "</title>\n" + kStyle + "</head>\n";
    page += fmt::format("<body data-charts-expected=\"{}\" data-charts-rendered=\"0\">\n",
                        charts.size());
    page += "<h1>" + html(report.title) + "</h1>\n";
    for (const auto& p : report.paragraphs)
        page += "<p>" + html(p) + "</p>\n";
    if (!chart_error.empty()) {
        page += "<p class=\"notice\">Some charts were not drawn: " + html(chart_error) + "</p>\n";
    }
    if (!charts.empty())
        page += "<h2>Charts</h2>\n";
    for (const auto& c : charts) {
        if (!c.drawn) {
            page += "<p class=\"notice\">Chart not drawn: " + html(c.title) + "</p>\n";
            continue;
        }
        page += fmt::format(
            "<figure><img class=\"chart\" src=\"charts/{0}.svg\" alt=\"{1}\">"
            "<figcaption>{1}</figcaption></figure>\n",
            html(c.id), html(c.title));
    }
    if (!report.tables.empty())
        page += "<h2>Tables</h2>\n";
    for (const auto& t : report.tables)
        page += html_table(t);
    return page + kCountScript + "</body>\n</html>\n";
}

}  // namespace

Status write_report(const Report& report, const fs::path& dir) {
    HA_TRY(validate(report));
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        return io_error(dir, "cannot create the report folder: " + ec.message());

    std::vector<ChartOut> charts;
    const Status drawn = draw_charts(report, dir, charts);
    const std::string chart_error = drawn.ok() ? "" : drawn.error().message;
    HA_TRY(write_file(dir / "report.json", to_json(report, charts)));
    HA_TRY(write_file(dir / "report.md", to_markdown(report, charts, chart_error)));
    HA_TRY(write_file(dir / "report.html", to_html(report, charts, chart_error)));
    return drawn;
}

}  // namespace hyperalign::eval
