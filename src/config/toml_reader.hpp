// Internal to the config module: typed, located access to toml++ tables. Every problem becomes a
// "file:line: context: message" diagnostic; nothing throws and parsing continues so one run
// reports as many mistakes as possible.
#pragma once

#include <toml++/toml.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"
#include "util/result.hpp"

namespace cloakroom::config::detail {

class Diagnostics {
  public:
    void error(const SourceLocation& where, std::string_view context, std::string_view message);
    bool empty() const { return entries_.empty(); }
    // code "config.invalid"; one line per problem, by file (in loading order), then by line.
    Error to_error() const;

  private:
    struct Entry {
        SourceLocation where;
        std::string line;
    };
    std::vector<Entry> entries_;
    std::size_t dropped_ = 0;
};

SourceLocation location(const std::string& file, const toml::source_region& region);
std::string_view type_name(const toml::node& node);
// The closest candidate within a small edit distance, for "did you mean" hints.
std::optional<std::string> suggest(std::string_view typo, const std::vector<std::string>& known);

template <class T>
struct Located {
    T value;
    SourceLocation where;
};

class TableReader {
  public:
    // context names the table in messages: "[gateway]", "service \"stripe\"".
    TableReader(const toml::table& table, std::string file, std::string context,
                Diagnostics& diagnostics);

    // Each accessor marks the key as known. A present key of the wrong type is reported and
    // yields nullopt/nullptr, like an absent one.
    const toml::node* node(std::string_view key);
    std::optional<Located<std::string>> string(std::string_view key);
    std::optional<Located<bool>> boolean(std::string_view key);
    // An array of strings; each element keeps its own location.
    std::optional<std::vector<Located<std::string>>> strings(std::string_view key);
    const toml::table* table(std::string_view key);
    // An array whose elements must all be tables ([[x]] or [{...}]).
    std::optional<std::vector<const toml::table*>> tables(std::string_view key);

    void ignore_all() { ignore_all_ = true; }
    // Reports every key no accessor asked for ("unknown key", with a suggestion).
    void finish();

    SourceLocation where() const;
    SourceLocation where(std::string_view key) const;  // the value's location, else the table's
    void error(std::string_view message) const;
    void error(std::string_view key, std::string_view message) const;
    void wrong_type(std::string_view key, std::string_view expected) const;

    const std::string& file() const { return file_; }
    const std::string& context() const { return context_; }
    Diagnostics& diagnostics() const { return diagnostics_; }

  private:
    const toml::table& table_;
    std::string file_;
    std::string context_;
    Diagnostics& diagnostics_;
    std::vector<std::string> known_;
    bool ignore_all_ = false;
};

}  // namespace cloakroom::config::detail
