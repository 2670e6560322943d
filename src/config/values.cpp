// Value readers shared by the cloakroom and agent-creds formats.
#include "config/authority.hpp"
#include "config/load_state.hpp"
#include "util/duration.hpp"

namespace cloakroom::config::detail {

std::optional<std::filesystem::path> read_path(TableReader& reader, std::string_view key,
                                               const Document& document, const Environment& env) {
    auto text = reader.string(key);
    if (!text) return std::nullopt;
    const std::string& value = text->value;
    if (value.empty()) {
        reader.error(key, std::string(key) + " is empty");
        return std::nullopt;
    }
    if (value.find('\0') != std::string::npos) {
        reader.error(key, std::string(key) + " contains a NUL character");
        return std::nullopt;
    }
    std::filesystem::path path;
    if (value == "~" || value.starts_with("~/")) {
        // Only the current user's home: "~user" would need a passwd lookup for little gain.
        auto home = env.get("HOME");
        if (!home || home->empty()) {
            reader.error(key, std::string(key) + " starts with '~' but $HOME is not set");
            return std::nullopt;
        }
        path = std::filesystem::path(*home) / value.substr(value == "~" ? 1 : 2);
    } else {
        path = value;
    }
    // Relative to the file that says it, so a config works from any working directory.
    if (path.is_relative() && document.base_dir) path = *document.base_dir / path;
    return path.lexically_normal();
}

std::optional<std::chrono::seconds> read_duration(TableReader& reader, std::string_view key) {
    const toml::node* value = reader.node(key);
    if (value == nullptr) return std::nullopt;
    if (const auto* integer = value->as_integer()) {
        if (integer->get() < 0) {
            reader.error(key, std::string(key) + " cannot be negative");
            return std::nullopt;
        }
        return std::chrono::seconds(integer->get());
    }
    if (!value->is_string()) {
        reader.wrong_type(key, "a duration string like \"24h\" or an integer number of seconds");
        return std::nullopt;
    }
    auto parsed = parse_duration(value->as_string()->get());
    if (!parsed.ok()) {
        reader.error(key, std::string(key) + ": " + parsed.error().message);
        return std::nullopt;
    }
    return *parsed;
}

std::optional<secrets::SecretRef> read_secret_ref(TableReader& reader, std::string_view key) {
    const toml::node* value = reader.node(key);
    if (value == nullptr) return std::nullopt;
    if (const auto* text = value->as_string()) {
        auto parsed = secrets::parse_secret_ref(text->get());
        if (!parsed.ok()) {
            reader.error(key, std::string(key) + ": " + parsed.error().message);
            return std::nullopt;
        }
        return std::move(*parsed);
    }
    if (const auto* table = value->as_table()) {
        TableReader provider(*table, reader.file(), reader.context(), reader.diagnostics());
        auto kind = provider.string("provider");
        auto name = provider.string("name");
        provider.finish();
        if (!kind || !name) {
            reader.error(key, std::string(key) + " needs both provider and name, e.g. " +
                                  "{ provider = \"env\", name = \"API_KEY\" }");
            return std::nullopt;
        }
        auto made = secrets::make_secret_ref(kind->value, name->value);
        if (!made.ok()) {
            reader.error(key, std::string(key) + ": " + made.error().message);
            return std::nullopt;
        }
        return std::move(*made);
    }
    reader.wrong_type(key,
                      "a secret reference string (\"file:ID\", \"env:NAME\", \"exec:CMD\", "
                      "\"systemd:ID\") or a { provider, name } table");
    return std::nullopt;
}

std::optional<std::string> check_host(const TableReader& reader, const Located<std::string>& host) {
    auto parsed = parse_authority(host.value);
    if (!parsed.ok()) {
        reader.diagnostics().error(host.where, reader.context(), "host " + parsed.error().message);
        return std::nullopt;
    }
    return parsed->text();
}

}  // namespace cloakroom::config::detail
