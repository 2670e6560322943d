// The browser bridge's settings (docs/browser.md): [[browser_target]] and [[cdp_target]] as
// agent-creds writes them (and under [browser] in cloakroom.toml), plus [browser]'s listeners.
// Patterns are parsed here, so a mistake is a load error with its line, not a refusal later.
#include "config/authority.hpp"
#include "config/load_state.hpp"

namespace cloakroom::config::detail {
namespace {

std::optional<browser::UrlPattern> read_pattern(TableReader& reader, std::string_view key) {
    auto text = reader.string(key);
    if (!text) return std::nullopt;
    auto pattern = browser::UrlPattern::parse(text->value);
    if (!pattern.ok()) {
        reader.error(key, std::string(key) + " " + pattern.error().message);
        return std::nullopt;
    }
    return *pattern;
}

std::optional<ListenerConfig> read_loopback_address(TableReader& reader, std::string_view key) {
    auto text = reader.string(key);
    if (!text) return std::nullopt;
    auto parsed = parse_listen_address(text->value);
    if (!parsed.ok()) {
        reader.error(key, std::string(key) + " " + parsed.error().message);
        return std::nullopt;
    }
    if (!is_loopback_listen_host(parsed->host)) {
        // The DevTools protocol has no authentication: whoever reaches it drives the browser.
        reader.error(key, std::string(key) + " \"" + text->value +
                              "\" must be a loopback address (127.0.0.1 or [::1])");
        return std::nullopt;
    }
    return ListenerConfig{parsed->text(), parsed->host, *parsed->port};
}

}  // namespace

void apply_browser_targets(const std::vector<const toml::table*>& tables, const Document& document,
                           LoadState& state) {
    for (const toml::table* table : tables) {
        TableReader reader(*table, document.file, "[[browser_target]]", state.diagnostics);
        if (reader.node("url") == nullptr) {
            reader.error("needs a url pattern (an entry without one would open nothing)");
        } else if (auto pattern = read_pattern(reader, "url")) {
            state.config.browser.open_targets.push_back(std::move(*pattern));
        }
        reader.finish();
    }
}

void apply_cdp_targets(const std::vector<const toml::table*>& tables, const Document& document,
                       LoadState& state) {
    for (const toml::table* table : tables) {
        TableReader reader(*table, document.file, "[[cdp_target]]", state.diagnostics);
        browser::CdpTargetRule rule;
        bool ok = true;
        if (auto type = reader.string("type")) rule.type = type->value;
        if (auto title = reader.string("title")) rule.title = title->value;
        if (reader.node("url") != nullptr) {
            rule.url = read_pattern(reader, "url");
            ok = rule.url.has_value();
        }
        reader.finish();
        if (ok) state.config.browser.cdp_targets.push_back(std::move(rule));
    }
}

void apply_browser(const toml::table& table, const Document& document, LoadState& state) {
    TableReader reader(table, document.file, "[browser]", state.diagnostics);
    BrowserConfig& browser = state.config.browser;
    if (reader.node("cdp_upstream") != nullptr) {
        browser.cdp_upstream = read_loopback_address(reader, "cdp_upstream");
    }
    if (reader.node("cdp_listen") != nullptr) {
        browser.cdp_listen = read_loopback_address(reader, "cdp_listen");
    }
    if (auto command = reader.strings("open_command")) {
        if (command->empty() || command->front().value.empty()) {
            reader.error("open_command", "open_command needs a program");
        } else {
            browser.open_command.clear();
            for (auto& part : *command) browser.open_command.push_back(part.value);
        }
    }
    if (auto timeout = read_duration(reader, "callback_timeout")) {
        if (timeout->count() <= 0 || *timeout > std::chrono::hours(1)) {
            reader.error("callback_timeout", "callback_timeout must be between 1s and 1h");
        } else {
            browser.callback_timeout = *timeout;
        }
    }
    if (auto targets = reader.tables("target")) apply_browser_targets(*targets, document, state);
    if (auto targets = reader.tables("cdp_target")) apply_cdp_targets(*targets, document, state);
    reader.finish();
}

}  // namespace cloakroom::config::detail
