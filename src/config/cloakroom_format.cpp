// cloakroom.toml: [gateway], [token], [secrets], [allow], [[service]], [[database]], [browser].
// Each key set in a file overrides the value from earlier files; services and allowed hosts
// accumulate.
#include <algorithm>

#include "config/authority.hpp"
#include "config/load_state.hpp"

namespace cloakroom::config::detail {
namespace {

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

bool is_method_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'+-.^_`|~").find(c) != std::string_view::npos;
}

void apply_gateway(const toml::table& table, const Document& document, LoadState& state) {
    TableReader reader(table, document.file, "[gateway]", state.diagnostics);
    GatewayConfig& gateway = state.config.gateway;
    if (auto listen = reader.string("listen")) {
        auto parsed = parse_listen_address(listen->value);
        if (!parsed.ok()) {
            reader.error("listen", "listen " + parsed.error().message);
        } else {
            gateway.proxy.address = parsed->text();
            gateway.proxy.host = parsed->host;
            gateway.proxy.port = *parsed->port;
        }
    }
    if (auto reverse = reader.string("reverse_listen")) {
        auto parsed = parse_listen_address(reverse->value);
        if (!parsed.ok()) {
            reader.error("reverse_listen", "reverse_listen " + parsed.error().message);
        } else if (!is_loopback_listen_host(parsed->host)) {
            // Agents send their token in clear text to this listener.
            reader.error("reverse_listen", "reverse_listen \"" + reverse->value +
                                               "\" must be a loopback address (127.0.0.1 or "
                                               "[::1]): it is plain HTTP");
        } else {
            gateway.reverse = ListenerConfig{parsed->text(), parsed->host, *parsed->port};
        }
    }
    if (auto transparent = reader.strings("transparent_listen")) {
        gateway.transparent.clear();
        for (const auto& entry : *transparent) {
            auto parsed = parse_listen_address(entry.value);
            if (!parsed.ok()) {
                reader.error("transparent_listen", "transparent_listen " + parsed.error().message);
            } else if (!is_loopback_listen_host(parsed->host)) {
                // Redirected connections arrive on loopback; anything else would let other
                // machines use the gateway.
                reader.error("transparent_listen",
                             "transparent_listen \"" + entry.value +
                                 "\" must be a loopback address (127.0.0.1 or [::1])");
            } else {
                gateway.transparent.push_back(
                    ListenerConfig{parsed->text(), parsed->host, *parsed->port});
            }
        }
    }
    if (auto socket = reader.string("sandbox_socket")) {
        state.sandbox_socket_set = true;
        if (socket->value.empty()) {
            gateway.sandbox_socket.clear();  // disabled
        } else if (auto path = read_path(reader, "sandbox_socket", document, state.env)) {
            gateway.sandbox_socket = *path;
        }
    }
    if (auto strict = reader.boolean("strict")) gateway.strict = strict->value;
    if (auto audit = reader.string("audit_log")) {
        state.audit_log_set = true;
        if (audit->value == "-") {
            gateway.audit_log = audit->value;  // "-": stdout
        } else if (auto path = read_path(reader, "audit_log", document, state.env)) {
            gateway.audit_log = path->string();
        }
    }
    if (auto path = read_path(reader, "data_dir", document, state.env)) {
        state.config.data_dir = *path;
        state.data_dir_set = reader.where("data_dir");
    }
    if (auto path = read_path(reader, "public_dir", document, state.env)) {
        gateway.public_dir = *path;
        state.public_dir_set = true;
    }
    reader.finish();
}

void apply_token(const toml::table& table, const Document& document, LoadState& state) {
    TableReader reader(table, document.file, "[token]", state.diagnostics);
    TokenConfig& token = state.config.token;
    if (auto prefix = reader.string("prefix")) {
        if (auto problem = token_prefix_problem(prefix->value)) {
            reader.error("prefix", "prefix " + *problem);
        } else {
            token.prefix = prefix->value;
        }
    }
    if (auto location = reader.string("location")) {
        const bool printable =
            !location->value.empty() &&
            std::all_of(location->value.begin(), location->value.end(),
                        [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; });
        if (!printable) {
            reader.error("location", "location must be non-empty printable text without spaces");
        } else {
            token.location = location->value;
        }
    }
    if (auto validity = read_duration(reader, "default_validity")) {
        token.default_validity = *validity;
        state.validity_set = reader.where("default_validity");
    }
    if (auto validity = read_duration(reader, "max_validity")) {
        token.max_validity = *validity;
        state.validity_set = reader.where("max_validity");
    }
    if (auto path = read_path(reader, "key_dir", document, state.env)) {
        token.key_dir = *path;
        state.key_dir_set = reader.where("key_dir");
    }
    if (auto key = reader.string("signing_key")) {
        // The id names a file in key_dir: no separators, no "." or "..".
        const std::string& id = key->value;
        if (id.empty() || id == "." || id == ".." ||
            !std::all_of(id.begin(), id.end(), is_name_char)) {
            reader.error("signing_key",
                         "signing_key \"" + id + "\" must be letters, digits, '-', '_' or '.'");
        } else {
            token.signing_key_id = id;
        }
    }
    reader.finish();
}

void apply_secrets(const toml::table& table, const Document& document, LoadState& state) {
    TableReader reader(table, document.file, "[secrets]", state.diagnostics);
    if (auto path = read_path(reader, "dir", document, state.env)) {
        state.config.secrets.dir = *path;
        state.secrets_dir_set = reader.where("dir");
    }
    if (auto timeout = read_duration(reader, "exec_timeout")) {
        if (timeout->count() == 0) {
            reader.error("exec_timeout", "exec_timeout must be longer than zero");
        } else {
            state.config.secrets.exec_timeout = *timeout;
        }
    }
    reader.finish();
}

void apply_allow(const toml::table& table, const Document& document, LoadState& state) {
    TableReader reader(table, document.file, "[allow]", state.diagnostics);
    if (auto hosts = reader.strings("hosts")) {
        for (const auto& host : *hosts) {
            if (auto normalized = check_host(reader, host)) {
                state.allowed_hosts.push_back({*normalized, host.where});
            }
        }
    }
    reader.finish();
}

std::optional<policy::Rule> read_rule(const toml::table& table, const TableReader& parent,
                                      std::string_view kind) {
    TableReader reader(table, parent.file(), parent.context(), parent.diagnostics());
    policy::Rule rule;
    bool ok = true;
    if (auto methods = reader.strings("methods")) {
        if (methods->empty()) {
            reader.error(
                "methods",
                std::string(kind) + " rule: methods is empty; leave it out to match any method");
            ok = false;
        }
        for (const auto& method : *methods) {
            std::string upper = method.value;
            std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) {
                return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
            });
            if (upper.empty() || !std::all_of(upper.begin(), upper.end(), is_method_char)) {
                parent.diagnostics().error(method.where, parent.context(),
                                           std::string(kind) + " rule: \"" + method.value +
                                               "\" is not an HTTP method (leave methods out to "
                                               "match any method)");
                ok = false;
                continue;
            }
            rule.methods.push_back(std::move(upper));
        }
    } else if (reader.node("methods") != nullptr) {
        ok = false;
    }
    if (auto paths = reader.strings("paths")) {
        if (paths->empty()) {
            reader.error("paths", std::string(kind) +
                                      " rule: paths is empty; leave it out to match any path");
            ok = false;
        }
        for (const auto& path : *paths) {
            auto pattern = policy::PathPattern::compile(path.value);
            if (!pattern.ok()) {
                parent.diagnostics().error(path.where, parent.context(),
                                           std::string(kind) + " rule: path \"" + path.value +
                                               "\": " + pattern.error().message);
                ok = false;
                continue;
            }
            rule.paths.push_back(std::move(*pattern));
        }
    } else if (reader.node("paths") != nullptr) {
        ok = false;
    }
    reader.finish();
    if (!ok) return std::nullopt;
    return rule;
}

bool is_env_name(std::string_view name) {
    if (name.empty() || (name.front() >= '0' && name.front() <= '9')) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_';
    });
}

// base_url_env = "NAME" (path "") or { NAME = "/path", ... }; an empty table disables the
// built-in defaults. The path is appended to http://<reverse_listen>/<service>.
std::optional<std::vector<std::pair<std::string, std::string>>> read_base_url_env(
    TableReader& reader) {
    const toml::node* node = reader.node("base_url_env");
    std::vector<std::pair<std::string, std::string>> out;
    auto add = [&](const std::string& name, const std::string& path) {
        if (!is_env_name(name)) {
            reader.error("base_url_env", "base_url_env: \"" + name +
                                             "\" is not an environment variable name "
                                             "(letters, digits, '_')");
            return false;
        }
        if (!path.empty() &&
            (path.front() != '/' || path.find_first_of("?#\\ \t\r\n") != std::string::npos)) {
            reader.error("base_url_env", "base_url_env: path \"" + path + "\" of " + name +
                                             " must start with '/' and hold no '?', '#', '\\' "
                                             "or spaces");
            return false;
        }
        out.emplace_back(name, path);
        return true;
    };
    if (node->is_string()) {
        if (!add(node->as_string()->get(), "")) return std::nullopt;
        return out;
    }
    if (!node->is_table()) {
        reader.wrong_type("base_url_env", "a name or a table, e.g. { OPENAI_BASE_URL = \"/v1\" }");
        return std::nullopt;
    }
    for (const auto& [key, value] : *node->as_table()) {
        if (!value.is_string()) {
            reader.error("base_url_env", "base_url_env: the value of " + std::string(key.str()) +
                                             " must be a path string such as \"/v1\" or \"\"");
            return std::nullopt;
        }
        if (!add(std::string(key.str()), value.as_string()->get())) return std::nullopt;
    }
    return out;
}

void apply_service(const toml::table& table, const Document& document, LoadState& state) {
    Service service;
    service.where = location(document.file, table.source());
    std::string context = "[[service]]";
    const toml::node* name_node = table.get("name");
    if (name_node != nullptr && name_node->is_string()) {
        context = "service \"" + name_node->as_string()->get() + "\"";
    }
    TableReader reader(table, document.file, context, state.diagnostics);
    bool ok = true;

    if (auto name = reader.string("name")) {
        if (name->value.empty() || name->value.size() > 253 ||
            !std::all_of(name->value.begin(), name->value.end(), is_name_char)) {
            reader.error("name", "name \"" + name->value +
                                     "\" must be 1-253 letters, digits, '-', '_' or '.'");
            ok = false;
        }
        service.name = name->value;
    } else {
        if (table.get("name") == nullptr) reader.error("service needs a name");
        ok = false;
    }

    if (auto hosts = reader.strings("hosts")) {
        if (hosts->empty()) {
            reader.error("hosts", "hosts is empty; a service needs at least one host");
            ok = false;
        }
        for (const auto& host : *hosts) {
            auto normalized = check_host(reader, host);
            if (!normalized) {
                ok = false;
                continue;
            }
            if (std::find(service.hosts.begin(), service.hosts.end(), *normalized) !=
                service.hosts.end()) {
                state.diagnostics.error(host.where, context,
                                        "host \"" + *normalized + "\" is listed twice");
                ok = false;
                continue;
            }
            service.hosts.push_back(*normalized);
        }
    } else {
        if (table.get("hosts") == nullptr) {
            reader.error("service needs hosts, e.g. hosts = [\"api.example.com\"]");
        }
        ok = false;
    }

    if (const toml::node* credential = reader.node("credential")) {
        if (!credential->is_table()) {
            reader.wrong_type("credential",
                              "a table, e.g. { type = \"bearer\", secret = \"...\" }");
            ok = false;
        } else {
            service.credential = read_credential(*credential->as_table(), reader);
            if (!service.credential) ok = false;
        }
    }

    for (const std::string_view kind : {std::string_view("allow"), std::string_view("deny")}) {
        auto rules = reader.tables(kind);
        if (!rules) {
            if (table.get(kind) != nullptr) ok = false;
            continue;
        }
        auto& target = kind == "allow" ? service.rules.allow : service.rules.deny;
        for (const toml::table* rule_table : *rules) {
            auto rule = read_rule(*rule_table, reader, kind);
            if (!rule) {
                ok = false;
                continue;
            }
            target.push_back(std::move(*rule));
        }
    }

    if (table.get("upstream_ca") != nullptr) {
        service.upstream_ca = read_path(reader, "upstream_ca", document, state.env);
        if (!service.upstream_ca) ok = false;
    } else {
        reader.node("upstream_ca");
    }
    if (auto connect = reader.string("connect_to")) {
        auto parsed = parse_authority(connect->value);
        if (!parsed.ok()) {
            reader.error("connect_to", "connect_to " + parsed.error().message);
            ok = false;
        } else if (!parsed->port) {
            reader.error("connect_to",
                         "connect_to \"" + connect->value + "\" needs a port (host:port)");
            ok = false;
        } else {
            service.connect_to = parsed->text();
        }
    } else if (table.get("connect_to") != nullptr) {
        ok = false;
    }
    if (auto allow_private = reader.boolean("allow_private")) {
        service.allow_private = allow_private->value;
    }
    if (reader.node("base_url_env") != nullptr) {
        service.base_url_env = read_base_url_env(reader);
        if (!service.base_url_env) ok = false;
    }
    if (!read_token_env(reader, table, service.token_env)) ok = false;
    if (auto user = reader.string("git_username")) {
        // One line of git's credential protocol: no newline, NUL or '='-free key issues.
        if (user->value.empty() ||
            user->value.find_first_of(std::string_view("\n\r\0", 3)) != std::string::npos) {
            reader.error("git_username", "git_username must be a non-empty single line");
            ok = false;
        }
        service.git_username = user->value;
    }
    read_limits(reader, service.limits);
    reader.finish();
    if (ok) state.config.services.push_back(std::move(service));
}

}  // namespace

bool read_token_env(TableReader& reader, const toml::table& table, std::vector<std::string>& out) {
    if (auto names = reader.strings("token_env")) {
        bool ok = true;
        for (const auto& name : *names) {
            if (!is_env_name(name.value)) {
                reader.error("token_env", "token_env: \"" + name.value +
                                              "\" is not an environment variable name "
                                              "(letters, digits and _, not starting with a digit)");
                ok = false;
                continue;
            }
            out.push_back(name.value);
        }
        return ok;
    }
    return table.get("token_env") == nullptr;
}

void apply_cloakroom_format(const Document& document, LoadState& state) {
    TableReader root(document.root, document.file, "", state.diagnostics);
    if (const toml::table* gateway = root.table("gateway"))
        apply_gateway(*gateway, document, state);
    if (const toml::table* token = root.table("token")) apply_token(*token, document, state);
    if (const toml::table* secrets = root.table("secrets")) {
        apply_secrets(*secrets, document, state);
    }
    if (const toml::table* allow = root.table("allow")) apply_allow(*allow, document, state);
    if (auto services = root.tables("service")) {
        for (const toml::table* service : *services) apply_service(*service, document, state);
    }
    if (const toml::table* admin = root.table("admin")) apply_admin(*admin, document, state);
    if (const toml::table* fleet = root.table("fleet")) apply_fleet(*fleet, document, state);
    if (const toml::table* limits = root.table("limits")) {
        TableReader reader(*limits, document.file, "[limits]", state.diagnostics);
        read_limits(reader, state.config.limits);
        reader.finish();
    }
    if (auto databases = root.tables("database")) {
        for (const toml::table* database : *databases) apply_database(*database, document, state);
    }
    if (const toml::table* profiles = root.table("profile"))
        apply_profiles(*profiles, document, state);
    if (const toml::table* browser = root.table("browser"))
        apply_browser(*browser, document, state);
    // Unknown top-level keys are reported by the loader, which knows every format's tables.
}

}  // namespace cloakroom::config::detail
