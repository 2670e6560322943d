// The Cloakroom configuration model: plain data produced by the loader (loader.hpp) from
// cloakroom.toml and/or agent-creds' agent-creds.toml + vault.toml. Everything here has already
// been validated; consumers never re-check syntax, only apply it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "browser/cdp_target_rule.hpp"
#include "browser/url_pattern.hpp"
#include "policy/access_rules.hpp"
#include "secrets/secret_ref.hpp"

namespace cloakroom::config {

// Where a setting came from, for messages ("cloakroom.toml:14").
struct SourceLocation {
    std::string file;
    std::uint32_t line = 0;  // 1-based; 0 = unknown
    std::uint32_t column = 0;
    std::string text() const;  // "file:line", or "file" when the line is unknown
    bool operator==(const SourceLocation&) const = default;
};

// The forward proxy listener (CONNECT / absolute-form requests).
struct ListenerConfig {
    std::string address = "127.0.0.1:3128";  // as written, normalized ("[::1]:3128" for IPv6)
    std::string host = "127.0.0.1";          // IP literal or name, without brackets
    std::uint16_t port = 3128;               // 0 = let the kernel pick (tests)
};

struct GatewayConfig {
    ListenerConfig proxy;
    // Reverse base-URL listener: plain HTTP on loopback, "http://HOST:PORT/<service>/<path>" is
    // forwarded to the service's first host over verified TLS. None = not listening.
    std::optional<ListenerConfig> reverse;
    bool strict = false;  // reject requests without a Cloakroom token (no passthrough)
    // "-" = stdout, else a file path. Default <data_dir>/audit.log (loader), so a `serve &` in a
    // shell does not fill the terminal with JSON.
    std::string audit_log = "-";
    // Where `cloakroom env` writes what an agent running as another user must read (the CA
    // certificate and the trust bundle; never a key): 0755 directory, 0644 files. Default
    // <data_dir>/public (the data directory is then made traversable, 0711).
    std::filesystem::path public_dir;
    // Transparent listeners (docs/transparent.md): connections redirected here by the kernel
    // (nftables/iptables REDIRECT) are routed by their original destination and the TLS server
    // name or Host header. Loopback only. Empty: none.
    std::vector<ListenerConfig> transparent;
    // The hand-over socket `cloakroom run` passes sandbox listeners through (docs/transparent.md).
    // Default <data_dir>/run/sandbox.sock; empty when disabled (sandbox_socket = "").
    std::filesystem::path sandbox_socket;
};

// The admin listener (docs/operations.md): /metrics, health and the admin API. Never the
// agents' listeners: loopback TCP and a unix socket only.
struct AdminConfig {
    // Loopback TCP listener ([admin] listen); none by default.
    std::optional<ListenerConfig> listen;
    // Unix socket, mode 0600 (the default transport). Default <data_dir>/run/admin.sock; empty
    // when disabled ([admin] socket = "").
    std::filesystem::path socket;
};

// A request rate: `count` requests per `period` (token bucket: bursts up to `count`).
struct Rate {
    std::uint64_t count = 0;
    std::chrono::seconds period{1};
    std::string text;  // as written ("10/s"), for messages
};

// Limits of one scope (docs/operations.md, "Rate limits and budgets"). The plain fields bound
// the scope as a whole (a service, a database, or the gateway); the token_ fields each token id
// (root nonce) within it. None = unlimited.
struct Limits {
    std::optional<Rate> rate;
    std::optional<std::uint64_t> concurrency;
    std::optional<Rate> token_rate;
    std::optional<std::uint64_t> token_concurrency;
    std::optional<std::uint64_t> token_budget;  // requests (sessions) over a token's lifetime
    bool any() const {
        return rate || concurrency || token_rate || token_concurrency || token_budget;
    }
};

struct TokenConfig {
    std::string prefix = "acm_";         // agent-creds compatible
    std::string location = "cloakroom";  // macaroon location field
    std::chrono::seconds default_validity{std::chrono::hours(24)};
    std::chrono::seconds max_validity{std::chrono::hours(24 * 30)};
    std::filesystem::path key_dir;  // default <data_dir>/keys
    std::string signing_key_id = "primary";
};

struct SecretsConfig {
    std::filesystem::path dir;  // root for file: refs; default $XDG_CONFIG_HOME/cloakroom/secrets
    std::chrono::milliseconds exec_timeout{5000};
};

enum class CredentialType { Bearer, Basic, Header, Query, Template };

std::string_view to_string(CredentialType type);

// How a service's real secret is injected. Which fields are set depends on the type:
//   Bearer:   secret                       -> Authorization: Bearer <secret>
//   Basic:    username | username_secret, secret (password; may be absent = empty password)
//   Header:   header, prefix, secret       -> <header>: <prefix><secret>
//   Query:    param, secret                -> ?<param>=<secret>
//   Template: header, template_text, secret -> <header>: template with {secret} replaced
struct Credential {
    CredentialType type = CredentialType::Bearer;
    std::optional<secrets::SecretRef> secret;
    std::string username;
    std::optional<secrets::SecretRef> username_secret;
    std::string header;
    std::string prefix;
    std::string param;
    std::string template_text;
};

struct Service {
    std::string name;
    // Normalized authorities: lower-case host without trailing dot, IPv6 in brackets, optional
    // ":port". A bare host matches any port; "host:port" matches that port only.
    std::vector<std::string> hosts;
    std::optional<Credential> credential;  // none = inspected and rule-checked, nothing injected
    policy::AccessRules rules;
    std::optional<std::filesystem::path> upstream_ca;  // none = system roots
    std::optional<std::string> connect_to;             // fixed upstream "host:port"
    bool allow_private = false;  // may dial loopback/private/link-local addresses
    // Base-URL variables `cloakroom env` exports when the reverse listener is on: name -> path
    // after "http://<reverse_listen>/<service>" ("/v1" for OPENAI_BASE_URL). None = the built-in
    // defaults for well-known first hosts (agent_env.hpp); an empty list turns those off.
    std::optional<std::vector<std::pair<std::string, std::string>>> base_url_env;
    // Variables `cloakroom run` sets to the session token inside the sandbox (e.g.
    // ["STRIPE_API_KEY"]), so SDKs that read their key from the environment send the token.
    std::vector<std::string> token_env;
    // A git host: the user name `cloakroom git-credential` answers with (the session token is the
    // password) for this service's hosts inside `cloakroom run`. None: git is wired only for
    // well-known forges (github.com: x-access-token, gitlab.com: oauth2, bitbucket.org:
    // x-token-auth); see git_credential_username().
    std::optional<std::string> git_username;
    Limits limits;
    SourceLocation where;
};

// The user name git sends for a service's hosts (its git_username, else a well-known forge's
// convention); nullopt when the service is not a git host.
std::optional<std::string> git_credential_username(const Service& service);

// ---- Database gateways ([[database]], docs/databases.md) ----

enum class DatabaseProtocol { Postgres, Mysql, Redis };
std::string_view to_string(DatabaseProtocol protocol);  // "postgres", "mysql", "redis"

// TLS from Cloakroom to the database server, with libpq's meanings:
//   Disable: plaintext. Require: encrypted, certificate NOT checked (an explicit opt-out, warned
//   about at load). VerifyCa: chain checked against ca_file (or system roots). VerifyFull: chain
//   and the server name (server_name, default the upstream host).
enum class DatabaseTlsMode { Disable, Require, VerifyCa, VerifyFull };
std::string_view to_string(DatabaseTlsMode mode);  // "disable", "require", "verify-ca", ...

// TLS from the agent's client to Cloakroom, with a leaf from Cloakroom's CA.
//   Off: plaintext only (refused at load for a non-loopback listen address).
//   Optional: offered, the client chooses. Required: plaintext logins are refused.
enum class ClientTlsMode { Off, Optional, Required };
std::string_view to_string(ClientTlsMode mode);  // "off", "optional", "required"

// One upstream identity an agent can log in as. The agent names it as its user name; the token
// it sends as its password must allow it (DbLogins caveat).
struct DatabaseLogin {
    std::string name;                            // what the agent sends as its user name
    std::string user;                            // the real upstream user (default: name)
    std::optional<secrets::SecretRef> password;  // none: upstream needs no password (trust)
};

struct Database {
    std::string name;  // service name in tokens (DbServices caveat) and in the audit log
    DatabaseProtocol protocol = DatabaseProtocol::Postgres;
    ListenerConfig listen;      // local address the agent connects to
    std::string upstream;       // "host:port" as normalized ("[::1]:5432" for IPv6)
    std::string upstream_host;  // without brackets
    std::uint16_t upstream_port = 0;
    DatabaseTlsMode tls = DatabaseTlsMode::Disable;  // default: disable for a loopback upstream,
                                                     // verify-full otherwise
    std::optional<std::filesystem::path> ca_file;    // none = system roots
    std::string server_name;  // name the certificate must carry (VerifyFull); default upstream_host
    ClientTlsMode client_tls = ClientTlsMode::Off;
    std::vector<DatabaseLogin> logins;  // at least one
    // Variables `cloakroom run` puts the session token in (e.g. PGPASSWORD, MYSQL_PWD,
    // REDISCLI_AUTH): the clients send it as the password.
    std::vector<std::string> token_env;
    Limits limits;  // a session counts as one request
    SourceLocation where;

    // The login an agent's user name selects; nullptr when none has that name.
    const DatabaseLogin* find_login(std::string_view name) const;
};

// A `cloakroom run` profile as written ([profile.NAME] in cloakroom.toml, or an agent-creds
// agent-creds.toml's [sandbox] name with its [upstream."host"] entries); docs/sandbox.md,
// "Profiles". A field that is nullopt was not written: it inherits from the parent. Resolution
// (extends, merging) is profile.hpp.
struct ProfileSpec {
    std::string name;
    std::optional<std::string> extends;  // a profile in the configuration or a built-in
    // Service or database names, or hosts: a host a configured service owns selects that service;
    // any other host is reachable without injection for the session (the agent's own login).
    std::optional<std::vector<std::string>> services;
    std::optional<std::vector<std::string>> hidden_paths;    // "~/" = $HOME; hidden as ~/.ssh is
    std::optional<std::vector<std::string>> writable_paths;  // "~/" = $HOME; read-write
    std::optional<std::vector<std::string>> allowed_hosts;   // reachable, nothing injected
    std::optional<std::string> contain;                      // auto | netns | landlock
    std::optional<std::chrono::seconds> valid_for;           // the session token's lifetime
    SourceLocation where;
};

// The browser bridge (docs/browser.md): which URLs an agent may open in the host's browser and
// which DevTools targets it may see through the CDP proxy.
struct BrowserConfig {
    std::vector<browser::UrlPattern> open_targets;    // [[browser_target]] url
    std::vector<browser::CdpTargetRule> cdp_targets;  // [[cdp_target]] type, title, url
    // The real browser's DevTools endpoint ("127.0.0.1:9222"); loopback only.
    std::optional<ListenerConfig> cdp_upstream;
    // Where `cloakroom serve` runs the filtering CDP proxy; none = not listening.
    std::optional<ListenerConfig> cdp_listen;
    // The program that opens an allowed URL on the host, given the URL as its one argument.
    std::vector<std::string> open_command{"xdg-open"};
    // How long the host listens for an OAuth callback after a sandbox opened a login URL that
    // names http://localhost:PORT (docs/browser.md, "OAuth callbacks").
    std::chrono::seconds callback_timeout{300};
};

// One Redis address of [fleet]: a server, a cluster seed or a sentinel.
struct RedisNode {
    std::string host;  // DNS name or IP literal (IPv6 without brackets)
    std::uint16_t port = 6379;
    std::string text() const;  // "host:port", "[v6]:port"
    bool operator==(const RedisNode&) const = default;
};

enum class RedisTopology {
    Single,    // redis = "redis://..." or "rediss://..."
    Cluster,   // cluster = ["h:p", ...]: seeds; MOVED/ASK followed
    Sentinel,  // sentinel = ["h:p", ...] + sentinel_master: the master is asked for
};

// Fleet mode ([fleet], docs/deployment.md): several gateways sharing revocations and budgets
// through one Redis server, a Redis Cluster or a Sentinel-managed master. Disabled when `nodes`
// is empty.
struct FleetConfig {
    std::string redis;  // what Redis this is, for messages (never holds a password)
    RedisTopology topology = RedisTopology::Single;
    std::vector<RedisNode> nodes;  // the server; the cluster seeds; the sentinels
    std::string sentinel_master;   // Sentinel: the master's name
    std::string sentinel_user;     // Sentinel: its ACL user ("" = default user)
    std::optional<secrets::SecretRef> sentinel_password;
    std::string user;                            // ACL user ("" = the default user)
    std::optional<secrets::SecretRef> password;  // never a literal in the file
    // TLS to every Redis node and sentinel: verified against the system roots or only `ca`,
    // the certificate must carry `server_name` (default: the host dialled).
    bool tls = false;
    std::optional<std::filesystem::path> ca;
    std::string server_name;
    std::optional<secrets::SecretRef> client_cert;  // PEM, for mTLS (with client_key)
    std::optional<secrets::SecretRef> client_key;
    std::string instance;  // this gateway's name in the fleet
    // Beyond this age of the last successful sync, token-authenticated requests are refused
    // (503 fleet_stale): a revocation made elsewhere may be unknown here.
    std::chrono::milliseconds max_staleness{5000};
    bool enabled() const { return !nodes.empty(); }
    bool operator==(const FleetConfig&) const = default;
};

struct Config {
    GatewayConfig gateway;
    AdminConfig admin;
    FleetConfig fleet;
    Limits limits;  // [limits]: the whole gateway
    TokenConfig token;
    SecretsConfig secrets;
    std::vector<Service> services;
    // Hosts without credentials that are still reachable through the gateway (same syntax and
    // port rule as Service::hosts). A host that belongs to a service is never listed here.
    std::vector<std::string> allowed_hosts;
    std::vector<Database> databases;
    std::vector<ProfileSpec> profiles;  // user profiles, in file order (names unique)
    BrowserConfig browser;
    std::filesystem::path data_dir;    // default $XDG_DATA_HOME/cloakroom
    std::vector<std::string> sources;  // files loaded in order, or "<embedded default>"

    // The service owning an authority ("Host", "host:port", "[v6]:port"; case and a trailing dot
    // are ignored). "host:port" entries win over bare-host entries. nullptr when none matches or
    // the authority is malformed.
    const Service* find_service(std::string_view authority) const;
    const Database* find_database(std::string_view name) const;
    // Whether the authority matches allowed_hosts (services are not consulted).
    bool is_allowed_host(std::string_view authority) const;
    // Every secret reference the services and database logins use, in order, without duplicates;
    // for resolving and checking them all up front.
    std::vector<secrets::SecretRef> secret_refs() const;
};

}  // namespace cloakroom::config
