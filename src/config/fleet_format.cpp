// cloakroom.toml's [fleet] table (docs/deployment.md, "Fleet mode"): the Redis server several
// gateways share, how this gateway calls itself there, and how stale its view may get.
#include <unistd.h>
#include <charconv>

#include "config/load_state.hpp"

namespace cloakroom::config::detail {
namespace {

bool instance_name_ok(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok) return false;
    }
    return true;
}

// "redis://host:port" (port optional, IPv6 in brackets). Returns why not, or "".
std::string parse_redis_url(std::string_view url, FleetConfig& fleet) {
    constexpr std::string_view scheme = "redis://";
    if (url.starts_with("rediss://")) {
        return "TLS to Redis (rediss://) is not supported yet: Debian 12's hiredis 0.14 has no "
               "TLS; reach Redis over loopback or a local TLS tunnel (docs/deployment.md)";
    }
    if (url.starts_with("redis-sentinel://") || url.starts_with("sentinel://") ||
        url.starts_with("redis-cluster://")) {
        return "Redis Sentinel and Cluster addresses are not supported yet: give the address of "
               "one Redis server (docs/deployment.md)";
    }
    if (!url.starts_with(scheme))
        return "must start with redis://, e.g. \"redis://127.0.0.1:6379\"";
    std::string_view rest = url.substr(scheme.size());
    if (rest.find('@') != std::string_view::npos) {
        return "must not hold a user or password: set `user` and `password` (a secret "
               "reference) in [fleet]";
    }
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.find(',') != std::string_view::npos) {
        return "several addresses (Redis Cluster) are not supported yet: give one server";
    }
    if (rest.find('/') != std::string_view::npos || rest.find('?') != std::string_view::npos) {
        return "no database number or options: write redis://HOST:PORT";
    }
    std::string_view host = rest;
    std::string_view port;
    if (rest.starts_with('[')) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) return "an IPv6 address needs its closing ]";
        host = rest.substr(1, close - 1);
        std::string_view after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return "expected :PORT after the address";
            port = after.substr(1);
        }
    } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    if (host.empty()) return "names no host";
    if (!port.empty()) {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
            return "the port must be a number from 1 to 65535";
        }
        fleet.redis_port = static_cast<std::uint16_t>(value);
    }
    fleet.redis_host = std::string(host);
    return {};
}

}  // namespace

void apply_fleet(const toml::table& table, const Document& document, LoadState& state) {
    TableReader reader(table, document.file, "[fleet]", state.diagnostics);
    FleetConfig& fleet = state.config.fleet;
    if (auto redis = reader.string("redis")) {
        fleet.redis = redis->value;
        if (auto problem = parse_redis_url(redis->value, fleet); !problem.empty()) {
            reader.error("redis", "redis " + problem);
            fleet.redis_host.clear();
        }
    } else {
        reader.error("[fleet] needs redis = \"redis://HOST:PORT\"");
    }
    if (auto tls = reader.boolean("tls"); tls && tls->value) {
        reader.error("tls",
                     "tls = true is not supported yet: Debian 12's hiredis 0.14 has no TLS; reach "
                     "Redis over loopback or a local TLS tunnel (docs/deployment.md)");
    }
    for (const char* key : {"sentinels", "cluster"}) {
        if (reader.node(key) != nullptr) {
            reader.error(key, std::string(key) +
                                  ": Redis Sentinel and Cluster are not supported yet; give "
                                  "one server in redis (docs/deployment.md)");
        }
    }
    if (auto user = reader.string("user")) {
        if (user->value.empty() || user->value.find_first_of(" \t\r\n") != std::string::npos) {
            reader.error("user", "user must be a non-empty ACL user name without spaces");
        } else {
            fleet.user = user->value;
        }
    }
    if (table.get("password") != nullptr) {
        // A secret reference only ("file:redis", "env:REDIS_PASSWORD", "systemd:redis"): a
        // literal would put the password in the configuration file.
        fleet.password = read_secret_ref(reader, "password");
    }
    if (auto instance = reader.string("instance")) {
        if (!instance_name_ok(instance->value)) {
            reader.error("instance",
                         "instance must be 1 to 64 of A-Z a-z 0-9 - _ . (it names this gateway "
                         "in Redis and in metrics)");
        } else {
            fleet.instance = instance->value;
        }
    }
    if (fleet.instance.empty()) {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) == 0 && instance_name_ok(host)) {
            fleet.instance = std::string(host) + "-" + std::to_string(::getpid());
        } else {
            fleet.instance = "gateway-" + std::to_string(::getpid());
        }
    }
    if (reader.node("max_staleness") != nullptr) {
        if (auto staleness = read_duration(reader, "max_staleness")) {
            if (staleness->count() < 1 || staleness->count() > 3600) {
                reader.error("max_staleness", "max_staleness must be from 1s to 1h");
            } else {
                fleet.max_staleness = *staleness;
            }
        }
    }
    reader.finish();
}

}  // namespace cloakroom::config::detail
