#include "config/model.hpp"

#include <algorithm>

#include "config/authority.hpp"

namespace cloakroom::config {
namespace {

// Port-specific entries first, then bare-host entries; an authority without a port only
// matches bare-host entries (an SNI lookup has no port to compare).
bool matches(const std::vector<std::string>& entries, const Authority& authority) {
    if (authority.port &&
        std::find(entries.begin(), entries.end(), authority.text()) != entries.end()) {
        return true;
    }
    const std::string bare = Authority{authority.host, std::nullopt}.text();
    return std::find(entries.begin(), entries.end(), bare) != entries.end();
}

}  // namespace

std::string SourceLocation::text() const {
    if (line == 0) return file;
    return file + ":" + std::to_string(line);
}

std::string_view to_string(CredentialType type) {
    switch (type) {
        case CredentialType::Bearer:
            return "bearer";
        case CredentialType::Basic:
            return "basic";
        case CredentialType::Header:
            return "header";
        case CredentialType::Query:
            return "query";
        case CredentialType::Template:
            return "template";
    }
    return "unknown";
}

const Service* Config::find_service(std::string_view authority_text) const {
    auto authority = parse_authority(authority_text);
    if (!authority.ok()) return nullptr;
    if (authority->port) {
        const std::string exact = authority->text();
        for (const Service& service : services) {
            if (std::find(service.hosts.begin(), service.hosts.end(), exact) !=
                service.hosts.end()) {
                return &service;
            }
        }
    }
    const std::string bare = Authority{authority->host, std::nullopt}.text();
    for (const Service& service : services) {
        if (std::find(service.hosts.begin(), service.hosts.end(), bare) != service.hosts.end()) {
            return &service;
        }
    }
    return nullptr;
}

bool Config::is_allowed_host(std::string_view authority_text) const {
    auto authority = parse_authority(authority_text);
    return authority.ok() && matches(allowed_hosts, *authority);
}

std::string_view to_string(DatabaseProtocol protocol) {
    switch (protocol) {
        case DatabaseProtocol::Postgres:
            return "postgres";
        case DatabaseProtocol::Mysql:
            return "mysql";
        case DatabaseProtocol::Redis:
            return "redis";
    }
    return "?";
}

std::string_view to_string(DatabaseTlsMode mode) {
    switch (mode) {
        case DatabaseTlsMode::Disable:
            return "disable";
        case DatabaseTlsMode::Require:
            return "require";
        case DatabaseTlsMode::VerifyCa:
            return "verify-ca";
        case DatabaseTlsMode::VerifyFull:
            return "verify-full";
    }
    return "?";
}

std::string_view to_string(ClientTlsMode mode) {
    switch (mode) {
        case ClientTlsMode::Off:
            return "off";
        case ClientTlsMode::Optional:
            return "optional";
        case ClientTlsMode::Required:
            return "required";
    }
    return "?";
}

const DatabaseLogin* Database::find_login(std::string_view login_name) const {
    for (const DatabaseLogin& login : logins) {
        if (login.name == login_name) return &login;
    }
    return nullptr;
}

const Database* Config::find_database(std::string_view database_name) const {
    for (const Database& database : databases) {
        if (database.name == database_name) return &database;
    }
    return nullptr;
}

std::vector<secrets::SecretRef> Config::secret_refs() const {
    std::vector<secrets::SecretRef> refs;
    auto add = [&refs](const std::optional<secrets::SecretRef>& ref) {
        if (ref && std::find(refs.begin(), refs.end(), *ref) == refs.end()) refs.push_back(*ref);
    };
    for (const Service& service : services) {
        if (!service.credential) continue;
        add(service.credential->username_secret);
        add(service.credential->secret);
    }
    for (const Database& database : databases) {
        for (const DatabaseLogin& login : database.logins) add(login.password);
    }
    add(fleet.password);
    add(fleet.sentinel_password);
    add(fleet.client_cert);
    add(fleet.client_key);
    return refs;
}

std::string RedisNode::text() const {
    const std::string port_text = std::to_string(port);
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + port_text;
    return host + ":" + port_text;
}

std::optional<std::string> git_credential_username(const Service& service) {
    if (service.git_username) return service.git_username;
    for (const auto& host : service.hosts) {
        if (host == "github.com") return "x-access-token";
        if (host == "gitlab.com") return "oauth2";
        if (host == "bitbucket.org") return "x-token-auth";
    }
    return std::nullopt;
}

}  // namespace cloakroom::config
