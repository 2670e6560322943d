// agent-creds compatibility (github.com/dtkav/agent-creds), both of its files:
//   agent-creds.toml  [sandbox], [upstream."host"], [[browser_target]], [[cdp_target]]
//   vault.toml        [credentials."host"] type = "bearer" | "basic" with provider tables
// Each upstream host becomes reachable through the gateway (an allowed host); each credentials
// entry becomes a service named after its host. A [sandbox] with a name defines a `cloakroom run`
// profile of that name (its upstream hosts as services); [[browser_target]] and [[cdp_target]]
// configure the browser bridge; the sandbox's other settings configure agent-creds' own container
// tooling and are ignored.
#include "config/load_state.hpp"

namespace cloakroom::config::detail {
namespace {

// The normalized upstream hosts, for the [sandbox] profile.
std::vector<std::string> apply_upstreams(const toml::table& upstreams, const Document& document,
                                         LoadState& state) {
    std::vector<std::string> hosts;
    for (auto&& [key, value] : upstreams) {
        const std::string host_text(key.str());
        const std::string context = "[upstream.\"" + host_text + "\"]";
        TableReader reader(upstreams, document.file, context, state.diagnostics);
        const Located<std::string> host{host_text, location(document.file, key.source())};
        auto normalized = check_host(reader, host);
        if (!value.is_table()) {
            state.diagnostics.error(location(document.file, value.source()), context,
                                    "must be a table, not " + std::string(type_name(value)));
            continue;
        }
        // agent-creds' own upstream settings (e.g. "akey") select credentials in its vault;
        // silently dropping them would turn an expected credential into a passthrough.
        TableReader settings(*value.as_table(), document.file, context, state.diagnostics);
        settings.finish();
        if (normalized) {
            state.allowed_hosts.push_back({*normalized, host.where});
            hosts.push_back(*normalized);
        }
    }
    return hosts;
}

void apply_vault_credential(const std::string& host_text, const toml::table& table,
                            const Document& document, LoadState& state) {
    const std::string context = "[credentials.\"" + host_text + "\"]";
    TableReader reader(table, document.file, context, state.diagnostics);
    Service service;
    service.where = location(document.file, table.source());
    bool ok = true;
    if (auto host = check_host(reader, {host_text, service.where})) {
        service.name = *host;
        service.hosts.push_back(*host);
    } else {
        ok = false;
    }

    Credential credential;
    auto type = reader.string("type");
    const bool has_token = table.get("token") != nullptr;
    const bool has_username = table.get("username") != nullptr;
    const bool has_password = table.get("password") != nullptr;
    if (!type) {
        if (table.get("type") == nullptr)
            reader.error("credential needs type = \"bearer\" or \"basic\"");
        ok = false;
    } else if (type->value == "bearer") {
        credential.type = CredentialType::Bearer;
        if (!has_token) {
            reader.error(
                "bearer credential needs token, e.g. "
                "token = { provider = \"env\", name = \"API_KEY\" }");
            ok = false;
        }
        if (has_username || has_password) {
            reader.error(has_username ? "username" : "password",
                         "username and password do not apply to a bearer credential");
            ok = false;
        }
    } else if (type->value == "basic") {
        credential.type = CredentialType::Basic;
        if (!has_username || !has_password) {
            reader.error(
                "basic credential needs username and password, e.g. "
                "username = { provider = \"env\", name = \"USER\" }");
            ok = false;
        }
        if (has_token) {
            reader.error("token", "token does not apply to a basic credential");
            ok = false;
        }
    } else {
        reader.error("type", "credential type \"" + type->value + "\" is not one of bearer, basic");
        ok = false;
    }
    // Same shape as agent-creds' Go struct: both references are secrets, including the username.
    if (has_token) {
        credential.secret = read_secret_ref(reader, "token");
        if (!credential.secret) ok = false;
    } else {
        reader.node("token");
    }
    if (has_username) {
        credential.username_secret = read_secret_ref(reader, "username");
        if (!credential.username_secret) ok = false;
    } else {
        reader.node("username");
    }
    if (has_password) {
        credential.secret = read_secret_ref(reader, "password");
        if (!credential.secret) ok = false;
    } else {
        reader.node("password");
    }
    reader.finish();
    if (!ok) return;
    service.credential = std::move(credential);
    state.config.services.push_back(std::move(service));
}

}  // namespace

void apply_agent_creds_format(const Document& document, LoadState& state) {
    TableReader root(document.root, document.file, "", state.diagnostics);
    // Settings for agent-creds' container tooling: accepted with whatever keys they hold.
    // [[browser_target]] and [[cdp_target]] drive the browser bridge (docs/browser.md).
    const toml::table* sandbox = root.table("sandbox");
    root.node("vault");
    if (auto targets = root.tables("browser_target"))
        apply_browser_targets(*targets, document, state);
    if (auto targets = root.tables("cdp_target")) apply_cdp_targets(*targets, document, state);
    std::vector<std::string> hosts;
    if (const toml::table* upstreams = root.table("upstream")) {
        hosts = apply_upstreams(*upstreams, document, state);
    }
    if (sandbox != nullptr) apply_agent_creds_sandbox(*sandbox, hosts, document, state);
    if (const toml::table* credentials = root.table("credentials")) {
        for (auto&& [key, value] : *credentials) {
            if (!value.is_table()) {
                state.diagnostics.error(location(document.file, value.source()),
                                        "[credentials.\"" + std::string(key.str()) + "\"]",
                                        "must be a table, not " + std::string(type_name(value)));
                continue;
            }
            apply_vault_credential(std::string(key.str()), *value.as_table(), document, state);
        }
    }
}

}  // namespace cloakroom::config::detail
