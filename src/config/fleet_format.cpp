// cloakroom.toml's [fleet] table (docs/deployment.md, "Fleet mode"): the Redis several gateways
// share (one server, a cluster's seeds or the sentinels of a master; TLS and its trust), how this
// gateway calls itself there, and how stale its view may get.
#include <unistd.h>
#include <algorithm>

#include "config/authority.hpp"

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

// "host", "host:port", "[v6]:port" (default port `fallback`). Returns why not, or "".
std::string parse_node(std::string_view text, std::uint16_t fallback, RedisNode& node) {
    if (text.empty()) return "names no host";
    if (text.find('@') != std::string_view::npos) {
        return "must not hold a user or password: set `user` and `password` (a secret "
               "reference) in [fleet]";
    }
    auto parsed = parse_authority(text);
    if (!parsed.ok()) return parsed.error().message;
    node.host = parsed->host;
    node.port = parsed->port.value_or(fallback);
    return {};
}

// "redis://host:port" or "rediss://host:port" (TLS; port optional, IPv6 in brackets). Returns
// why not, or "".
std::string parse_redis_url(std::string_view url, FleetConfig& fleet) {
    if (url.starts_with("redis-sentinel://") || url.starts_with("sentinel://") ||
        url.starts_with("redis-cluster://")) {
        return "takes one server: for Redis Sentinel write sentinel = [\"HOST:PORT\", ...] and "
               "sentinel_master = \"NAME\", for Redis Cluster cluster = [\"HOST:PORT\", ...] "
               "(docs/configuration.md)";
    }
    std::string_view rest;
    if (url.starts_with("rediss://")) {
        fleet.tls = true;
        rest = url.substr(9);
    } else if (url.starts_with("redis://")) {
        rest = url.substr(8);
    } else {
        return "must start with redis:// or rediss:// (TLS), e.g. \"redis://127.0.0.1:6379\"";
    }
    if (rest.find('@') != std::string_view::npos) {
        return "must not hold a user or password: set `user` and `password` (a secret "
               "reference) in [fleet]";
    }
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.find(',') != std::string_view::npos) {
        return "takes one server: for Redis Cluster write cluster = [\"HOST:PORT\", ...]";
    }
    if (rest.find('/') != std::string_view::npos || rest.find('?') != std::string_view::npos) {
        return "no database number or options: write redis://HOST:PORT";
    }
    RedisNode node;
    if (auto problem = parse_node(rest, 6379, node); !problem.empty()) return problem;
    fleet.nodes = {std::move(node)};
    return {};
}

// cluster = [...] or sentinel = [...]: at least one "host:port" each, no duplicates.
std::vector<RedisNode> read_nodes(TableReader& reader, std::string_view key, std::uint16_t fallback,
                                  LoadState& state) {
    std::vector<RedisNode> nodes;
    auto items = reader.strings(key);
    if (!items) return nodes;
    if (items->empty()) {
        reader.error(key, std::string(key) + " needs at least one \"HOST:PORT\"");
        return nodes;
    }
    bool ok = true;
    for (const auto& item : *items) {
        RedisNode node;
        if (auto problem = parse_node(item.value, fallback, node); !problem.empty()) {
            state.diagnostics.error(item.where, "[fleet]",
                                    std::string(key) + " \"" + item.value + "\" " + problem);
            ok = false;
        } else if (std::find(nodes.begin(), nodes.end(), node) != nodes.end()) {
            state.diagnostics.error(item.where, "[fleet]",
                                    std::string(key) + " lists " + node.text() + " twice");
            ok = false;
        } else {
            nodes.push_back(std::move(node));
        }
    }
    if (!ok) nodes.clear();
    return nodes;
}

std::string describe(const FleetConfig& fleet) {
    std::string out;
    for (const RedisNode& node : fleet.nodes) {
        if (!out.empty()) out += ',';
        out += node.text();
    }
    switch (fleet.topology) {
        case RedisTopology::Single:
            return (fleet.tls ? "rediss://" : "redis://") + out;
        case RedisTopology::Cluster:
            return std::string(fleet.tls ? "rediss" : "redis") + " cluster " + out;
        case RedisTopology::Sentinel:
            return std::string(fleet.tls ? "rediss" : "redis") + " sentinel " + out + " master " +
                   fleet.sentinel_master;
    }
    return out;
}

}  // namespace

void apply_fleet(const toml::table& table, const Document& document, LoadState& state) {
    TableReader reader(table, document.file, "[fleet]", state.diagnostics);
    FleetConfig& fleet = state.config.fleet;
    fleet = FleetConfig{};
    const bool has_redis = table.get("redis") != nullptr;
    const bool has_cluster = table.get("cluster") != nullptr;
    const bool has_sentinel = table.get("sentinel") != nullptr;
    if (int(has_redis) + int(has_cluster) + int(has_sentinel) > 1) {
        reader.error(has_sentinel ? "sentinel" : "cluster",
                     "[fleet] takes one of redis, cluster and sentinel");
    } else if (has_cluster) {
        fleet.topology = RedisTopology::Cluster;
        fleet.nodes = read_nodes(reader, "cluster", 6379, state);
    } else if (has_sentinel) {
        fleet.topology = RedisTopology::Sentinel;
        fleet.nodes = read_nodes(reader, "sentinel", 26379, state);
    } else if (auto redis = reader.string("redis")) {
        if (auto problem = parse_redis_url(redis->value, fleet); !problem.empty()) {
            reader.error("redis", "redis " + problem);
            fleet.nodes.clear();
        }
    } else if (!has_redis) {
        reader.error(
            "[fleet] needs redis = \"redis://HOST:PORT\" (or cluster = [...], or sentinel = "
            "[...] with sentinel_master)");
    }
    if (auto master = reader.string("sentinel_master")) {
        if (fleet.topology != RedisTopology::Sentinel) {
            reader.error("sentinel_master",
                         "sentinel_master needs sentinel = [\"HOST:PORT\", ...]");
        } else if (master->value.empty() ||
                   master->value.find_first_of(" \t\r\n") != std::string::npos) {
            reader.error("sentinel_master", "sentinel_master must be a name without spaces");
        } else {
            fleet.sentinel_master = master->value;
        }
    } else if (has_sentinel && table.get("sentinel_master") == nullptr) {
        reader.error("sentinel", "sentinel needs sentinel_master = \"NAME\" (the master's name)");
        fleet.nodes.clear();
    }
    if (has_sentinel && fleet.sentinel_master.empty()) fleet.nodes.clear();
    if (auto user = reader.string("sentinel_user")) {
        if (fleet.topology != RedisTopology::Sentinel) {
            reader.error("sentinel_user", "sentinel_user needs sentinel = [...]");
        } else if (user->value.empty() ||
                   user->value.find_first_of(" \t\r\n") != std::string::npos) {
            reader.error("sentinel_user", "sentinel_user must be a non-empty ACL user name");
        } else {
            fleet.sentinel_user = user->value;
        }
    }
    if (table.get("sentinel_password") != nullptr) {
        if (fleet.topology != RedisTopology::Sentinel) {
            reader.error("sentinel_password", "sentinel_password needs sentinel = [...]");
        }
        fleet.sentinel_password = read_secret_ref(reader, "sentinel_password");
    }
    if (auto tls = reader.boolean("tls")) {
        if (!tls->value && fleet.tls) {
            reader.error("tls", "tls = false contradicts redis = \"rediss://...\"");
        }
        fleet.tls = fleet.tls || tls->value;
    }
    if (table.get("ca") != nullptr) fleet.ca = read_path(reader, "ca", document, state.env);
    if (auto name = reader.string("server_name")) {
        auto parsed = parse_authority(name->value);
        if (!parsed.ok() || parsed->port) {
            reader.error("server_name", "server_name \"" + name->value +
                                            "\" must be a host name or IP address without a port");
        } else {
            fleet.server_name = parsed->host;
        }
    }
    if (table.get("client_cert") != nullptr) {
        fleet.client_cert = read_secret_ref(reader, "client_cert");
    }
    if (table.get("client_key") != nullptr) {
        fleet.client_key = read_secret_ref(reader, "client_key");
    }
    if (table.get("client_cert") != nullptr && table.get("client_key") == nullptr) {
        reader.error("client_cert", "client_cert needs client_key (both secret references)");
    } else if (table.get("client_key") != nullptr && table.get("client_cert") == nullptr) {
        reader.error("client_key", "client_key needs client_cert (both secret references)");
    }
    if (!fleet.tls) {
        for (const char* key : {"ca", "server_name", "client_cert", "client_key"}) {
            if (table.get(key) != nullptr) {
                reader.error(
                    key, std::string(key) + " needs TLS: tls = true or redis = \"rediss://...\"");
            }
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
    if (fleet.enabled()) fleet.redis = describe(fleet);
    reader.finish();
}

}  // namespace cloakroom::config::detail
