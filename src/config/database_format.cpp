// cloakroom.toml [[database]] entries: the database gateways (docs/databases.md).
#include <arpa/inet.h>

#include <algorithm>

#include "config/authority.hpp"
#include "config/load_state.hpp"

namespace cloakroom::config::detail {
namespace {

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

bool valid_name(std::string_view name) {
    return !name.empty() && name.size() <= 253 &&
           std::all_of(name.begin(), name.end(), is_name_char);
}

// Loopback listeners may stay plaintext: the token never crosses a network.
bool is_loopback_ip(const std::string& host) {
    return is_loopback_listen_host(host);
}

bool is_ip_literal(const std::string& host) {
    in_addr v4{};
    in6_addr v6{};
    return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 ||
           ::inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

template <class Enum>
std::optional<Enum> read_choice(TableReader& reader, std::string_view key,
                                std::initializer_list<std::pair<std::string_view, Enum>> choices) {
    auto text = reader.string(key);
    if (!text) return std::nullopt;
    std::string names;
    for (const auto& [name, value] : choices) {
        if (text->value == name) return value;
        names += names.empty() ? "" : ", ";
        names += "\"" + std::string(name) + "\"";
    }
    reader.error(key, std::string(key) + " \"" + text->value + "\" must be one of " + names);
    return std::nullopt;
}

std::optional<DatabaseLogin> read_login(const std::string& name, const toml::node& node,
                                        const TableReader& parent) {
    const std::string context = parent.context() + " login \"" + name + "\"";
    if (!valid_name(name)) {
        parent.error("logins",
                     "login name \"" + name + "\" must be 1-253 letters, digits, '-', '_' or '.'");
        return std::nullopt;
    }
    const toml::table* table = node.as_table();
    if (table == nullptr) {
        parent.error("logins", "login \"" + name +
                                   "\" must be a table, e.g. { user = \"app_ro\", password = "
                                   "\"file:pg_ro\" }");
        return std::nullopt;
    }
    TableReader reader(*table, parent.file(), context, parent.diagnostics());
    DatabaseLogin login;
    login.name = name;
    login.user = name;
    bool ok = true;
    if (auto user = reader.string("user")) {
        if (user->value.empty() || user->value.find('\0') != std::string::npos) {
            reader.error("user", "user must be non-empty");
            ok = false;
        } else {
            login.user = user->value;
        }
    } else if (table->get("user") != nullptr) {
        ok = false;
    }
    if (table->get("password") != nullptr) {
        login.password = read_secret_ref(reader, "password");
        if (!login.password) ok = false;
    }
    reader.finish();
    if (!ok) return std::nullopt;
    return login;
}

}  // namespace

bool is_loopback_listen_host(const std::string& host) {
    in_addr v4{};
    if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    in6_addr v6{};
    if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
    }
    return false;
}

void apply_database(const toml::table& table, const Document& document, LoadState& state) {
    Database database;
    database.where = location(document.file, table.source());
    std::string context = "[[database]]";
    if (const toml::node* name = table.get("name"); name != nullptr && name->is_string()) {
        context = "database \"" + name->as_string()->get() + "\"";
    }
    TableReader reader(table, document.file, context, state.diagnostics);
    bool ok = true;

    if (auto name = reader.string("name")) {
        if (!valid_name(name->value)) {
            reader.error("name", "name \"" + name->value +
                                     "\" must be 1-253 letters, digits, '-', '_' or '.'");
            ok = false;
        } else if (state.config.find_database(name->value) != nullptr) {
            reader.error("name", "a database named \"" + name->value + "\" is already defined");
            ok = false;
        }
        database.name = name->value;
    } else {
        if (table.get("name") == nullptr) reader.error("database needs a name");
        ok = false;
    }

    if (auto protocol = read_choice<DatabaseProtocol>(reader, "protocol",
                                                      {{"postgres", DatabaseProtocol::Postgres},
                                                       {"mysql", DatabaseProtocol::Mysql},
                                                       {"redis", DatabaseProtocol::Redis}})) {
        database.protocol = *protocol;
    } else {
        if (table.get("protocol") == nullptr) {
            reader.error("database needs protocol = \"postgres\", \"mysql\" or \"redis\"");
        }
        ok = false;
    }

    if (auto listen = reader.string("listen")) {
        auto parsed = parse_listen_address(listen->value);
        if (!parsed.ok()) {
            reader.error("listen", "listen " + parsed.error().message);
            ok = false;
        } else if (!is_ip_literal(parsed->host)) {
            reader.error("listen", "listen \"" + listen->value +
                                       "\" must be an IP address and port, e.g. 127.0.0.1:6432");
            ok = false;
        } else {
            database.listen.address = parsed->text();
            database.listen.host = parsed->host;
            database.listen.port = *parsed->port;
            for (const Database& other : state.config.databases) {
                if (database.listen.port != 0 && other.listen.address == database.listen.address) {
                    reader.error("listen", "listen " + database.listen.address +
                                               " is already used by database \"" + other.name +
                                               "\"");
                    ok = false;
                }
            }
        }
    } else {
        if (table.get("listen") == nullptr) {
            reader.error("database needs listen, e.g. listen = \"127.0.0.1:6432\"");
        }
        ok = false;
    }

    if (auto upstream = reader.string("upstream")) {
        auto parsed = parse_authority(upstream->value);
        if (!parsed.ok()) {
            reader.error("upstream", "upstream " + parsed.error().message);
            ok = false;
        } else if (!parsed->port) {
            reader.error("upstream",
                         "upstream \"" + upstream->value + "\" needs a port (host:port)");
            ok = false;
        } else {
            database.upstream = parsed->text();
            database.upstream_host = parsed->host;
            database.upstream_port = *parsed->port;
        }
    } else {
        if (table.get("upstream") == nullptr) {
            reader.error("database needs upstream, e.g. upstream = \"db.internal:5432\"");
        }
        ok = false;
    }

    // A plaintext hop on loopback crosses no network; anywhere else TLS is the default.
    const bool loopback_upstream =
        is_loopback_ip(database.upstream_host) || database.upstream_host == "localhost";
    database.tls = loopback_upstream ? DatabaseTlsMode::Disable : DatabaseTlsMode::VerifyFull;
    if (table.get("tls") != nullptr) {
        if (auto mode =
                read_choice<DatabaseTlsMode>(reader, "tls",
                                             {{"disable", DatabaseTlsMode::Disable},
                                              {"require", DatabaseTlsMode::Require},
                                              {"verify-ca", DatabaseTlsMode::VerifyCa},
                                              {"verify-full", DatabaseTlsMode::VerifyFull}})) {
            database.tls = *mode;
        } else {
            ok = false;
        }
    }
    if (table.get("ca_file") != nullptr) {
        database.ca_file = read_path(reader, "ca_file", document, state.env);
        if (!database.ca_file) ok = false;
    }
    database.server_name = database.upstream_host;
    if (auto name = reader.string("server_name")) {
        auto parsed = parse_authority(name->value);
        if (!parsed.ok() || parsed->port) {
            reader.error("server_name", "server_name \"" + name->value +
                                            "\" must be a host name or IP address without a port");
            ok = false;
        } else {
            database.server_name = parsed->host;
        }
    }
    if (database.tls == DatabaseTlsMode::Disable &&
        (database.ca_file || table.get("server_name"))) {
        reader.error(database.ca_file ? "ca_file" : "server_name",
                     "ca_file and server_name need tls = \"verify-ca\" or \"verify-full\" "
                     "(tls is \"disable\")");
        ok = false;
    }

    if (table.get("client_tls") != nullptr) {
        if (auto mode = read_choice<ClientTlsMode>(reader, "client_tls",
                                                   {{"off", ClientTlsMode::Off},
                                                    {"optional", ClientTlsMode::Optional},
                                                    {"required", ClientTlsMode::Required}})) {
            database.client_tls = *mode;
        } else {
            ok = false;
        }
    }
    if (!database.listen.host.empty() && !is_loopback_ip(database.listen.host) &&
        database.client_tls != ClientTlsMode::Required) {
        reader.error("client_tls",
                     "listen " + database.listen.address +
                         " is not a loopback address: set client_tls = \"required\" so tokens "
                         "never cross the network in plaintext");
        ok = false;
    }

    if (const toml::node* logins = reader.node("logins")) {
        if (const toml::table* entries = logins->as_table(); entries == nullptr) {
            reader.wrong_type("logins",
                              "a table of logins, e.g. { readonly = { user = \"app_ro\", password "
                              "= \"file:pg_ro\" } }");
            ok = false;
        } else {
            for (auto&& [key, value] : *entries) {
                auto login = read_login(std::string(key.str()), value, reader);
                if (!login) {
                    ok = false;
                    continue;
                }
                database.logins.push_back(std::move(*login));
            }
            if (entries->empty()) {
                reader.error("logins", "logins is empty; a database needs at least one login");
                ok = false;
            }
        }
    } else {
        reader.error(
            "database needs logins, e.g. [database.logins] readonly = { user = "
            "\"app_ro\", password = \"file:pg_ro\" }");
        ok = false;
    }
    if (!read_token_env(reader, table, database.token_env)) ok = false;
    read_limits(reader, database.limits);
    reader.finish();
    if (ok) state.config.databases.push_back(std::move(database));
}

}  // namespace cloakroom::config::detail
