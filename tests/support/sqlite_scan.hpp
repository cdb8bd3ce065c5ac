#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
#include <string>
#include <vector>

namespace hyperalign::testing {

// Every value, as text, in every row of every table of the SQLite file at `path`: what a test
// searches to show that deleted data is gone.
inline std::vector<std::string> all_cells(const std::filesystem::path& path) {
    SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
    std::vector<std::string> tables;
    SQLite::Statement list(db, "SELECT name FROM sqlite_master WHERE type = 'table'");
    while (list.executeStep())
        tables.push_back(list.getColumn(0).getString());

    std::vector<std::string> cells;
    for (const auto& table : tables) {
        SQLite::Statement rows(db, "SELECT * FROM \"" + table + "\"");
        while (rows.executeStep()) {
            for (int i = 0; i < rows.getColumnCount(); ++i)
                cells.push_back(rows.getColumn(i).getString());
        }
    }
    return cells;
}

}  // namespace hyperalign::testing
