#include "config/toml_reader.hpp"

#include <algorithm>

namespace cloakroom::config::detail {
namespace {

// More than this and the rest is noise caused by the first mistakes.
constexpr std::size_t kMaxDiagnostics = 25;

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

void Diagnostics::error(const SourceLocation& where, std::string_view context,
                        std::string_view message) {
    if (entries_.size() == kMaxDiagnostics) {
        ++dropped_;
        return;
    }
    std::string line = where.text() + ": ";
    if (!context.empty()) line += std::string(context) + ": ";
    line += message;
    entries_.push_back({where, std::move(line)});
}

Error Diagnostics::to_error() const {
    // Checks run table by table, cross-file checks last; readers want the file's order.
    std::vector<std::string> files;
    for (const Entry& entry : entries_) {
        if (std::find(files.begin(), files.end(), entry.where.file) == files.end()) {
            files.push_back(entry.where.file);
        }
    }
    auto rank = [&files](const Entry& entry) {
        const auto file = std::find(files.begin(), files.end(), entry.where.file) - files.begin();
        return std::pair(file, entry.where.line);
    };
    std::vector<const Entry*> sorted;
    for (const Entry& entry : entries_) sorted.push_back(&entry);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [&rank](const Entry* a, const Entry* b) { return rank(*a) < rank(*b); });
    std::string message;
    for (const Entry* entry : sorted) {
        if (!message.empty()) message += '\n';
        message += entry->line;
    }
    if (dropped_ != 0) message += "\n(" + std::to_string(dropped_) + " more errors not shown)";
    return make_error("config.invalid", std::move(message));
}

SourceLocation location(const std::string& file, const toml::source_region& region) {
    return SourceLocation{file, region.begin.line, region.begin.column};
}

std::string_view type_name(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

std::optional<std::string> suggest(std::string_view typo, const std::vector<std::string>& known) {
    std::optional<std::string> best;
    std::size_t best_distance = 3;  // a distance of 3+ is a different word, not a typo
    for (const std::string& candidate : known) {
        const std::size_t distance = edit_distance(typo, candidate);
        if (distance < best_distance) {
            best_distance = distance;
            best = candidate;
        }
    }
    return best;
}

TableReader::TableReader(const toml::table& table, std::string file, std::string context,
                         Diagnostics& diagnostics)
    : table_(table),
      file_(std::move(file)),
      context_(std::move(context)),
      diagnostics_(diagnostics) {}

const toml::node* TableReader::node(std::string_view key) {
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
    return table_.get(key);
}

std::optional<Located<std::string>> TableReader::string(std::string_view key) {
    const toml::node* value = node(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) {
        wrong_type(key, "a string");
        return std::nullopt;
    }
    return Located<std::string>{value->as_string()->get(), location(file_, value->source())};
}

std::optional<Located<bool>> TableReader::boolean(std::string_view key) {
    const toml::node* value = node(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_boolean()) {
        wrong_type(key, "a boolean (true or false)");
        return std::nullopt;
    }
    return Located<bool>{value->as_boolean()->get(), location(file_, value->source())};
}

std::optional<std::vector<Located<std::string>>> TableReader::strings(std::string_view key) {
    const toml::node* value = node(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_array()) {
        wrong_type(key, "an array of strings");
        return std::nullopt;
    }
    std::vector<Located<std::string>> out;
    bool ok = true;
    for (const toml::node& element : *value->as_array()) {
        if (!element.is_string()) {
            diagnostics_.error(location(file_, element.source()), context_,
                               std::string(key) + " must contain only strings, found " +
                                   std::string(type_name(element)));
            ok = false;
            continue;
        }
        out.push_back({element.as_string()->get(), location(file_, element.source())});
    }
    if (!ok) return std::nullopt;
    return out;
}

const toml::table* TableReader::table(std::string_view key) {
    const toml::node* value = node(key);
    if (value == nullptr) return nullptr;
    if (!value->is_table()) {
        wrong_type(key, "a table");
        return nullptr;
    }
    return value->as_table();
}

std::optional<std::vector<const toml::table*>> TableReader::tables(std::string_view key) {
    const toml::node* value = node(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_array()) {
        error(key, std::string(key) + " must be an array of tables ([[" + std::string(key) +
                       "]] sections), not " + std::string(type_name(*value)));
        return std::nullopt;
    }
    std::vector<const toml::table*> out;
    for (const toml::node& element : *value->as_array()) {
        if (!element.is_table()) {
            diagnostics_.error(location(file_, element.source()), context_,
                               std::string(key) + " must contain only tables, found " +
                                   std::string(type_name(element)));
            return std::nullopt;
        }
        out.push_back(element.as_table());
    }
    return out;
}

void TableReader::finish() {
    if (ignore_all_) return;
    for (auto&& [key, value] : table_) {
        if (std::find(known_.begin(), known_.end(), key.str()) != known_.end()) continue;
        std::string message = "unknown key \"" + std::string(key.str()) + "\"";
        if (auto hint = suggest(key.str(), known_)) message += " (did you mean \"" + *hint + "\"?)";
        diagnostics_.error(location(file_, key.source()), context_, message);
    }
}

SourceLocation TableReader::where() const {
    return location(file_, table_.source());
}

SourceLocation TableReader::where(std::string_view key) const {
    if (const toml::node* value = table_.get(key)) return location(file_, value->source());
    return where();
}

void TableReader::error(std::string_view message) const {
    diagnostics_.error(where(), context_, message);
}

void TableReader::error(std::string_view key, std::string_view message) const {
    diagnostics_.error(where(key), context_, message);
}

void TableReader::wrong_type(std::string_view key, std::string_view expected) const {
    const toml::node* value = table_.get(key);
    error(key, std::string(key) + " must be " + std::string(expected) + ", not " +
                   std::string(value ? type_name(*value) : "nothing"));
}

}  // namespace cloakroom::config::detail
