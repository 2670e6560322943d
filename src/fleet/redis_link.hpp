// The fleet's way to Redis, whatever the topology of [fleet] (docs/configuration.md):
//   * one server: connect to it;
//   * Redis Cluster: every fleet key carries the hash tag {cloakroom}, so one slot (one master)
//     holds them all. Connect to the node that last answered MOVED, else to the seeds in order
//     (a seed that is down is skipped); follow MOVED (reconnect there) and ASK (that command
//     once, after ASKING, on a connection of its own), at most kMaxRedirects times per call;
//   * Sentinel: ask the sentinels in order for the master's address
//     (SENTINEL get-master-addr-by-name), connect, and check with ROLE that it is the master.
//     A -READONLY reply (the master was demoted) or a broken connection drops the connection,
//     so the next call asks the sentinels again. Every second the sentinel that answered is
//     asked again, and a changed address moves the link at once: after a failover the old
//     master may accept writes for seconds until the sentinels demote it, and writes there
//     would be lost.
// TLS and the ACL login apply to every connection (sentinels: sentinel_user/sentinel_password).
// Blocking, for the fleet thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "fleet/redis_client.hpp"
#include "fleet/redis_transport.hpp"
#include "util/result.hpp"

namespace cloakroom::fleet {

struct RedisLogins {
    std::string password;           // of config.user ("" = no AUTH)
    std::string sentinel_password;  // of config.sentinel_user
};

class RedisLink {
  public:
    static constexpr int kMaxRedirects = 5;

    RedisLink(config::FleetConfig config, std::optional<RedisTls> tls, RedisLogins logins,
              std::chrono::milliseconds timeout);
    ~RedisLink();
    RedisLink(const RedisLink&) = delete;
    RedisLink& operator=(const RedisLink&) = delete;

    // Connects when not connected, sends the commands as one pipeline and returns one reply
    // each, redirects followed. Any failure drops the connection (the next call reconnects);
    // errors keep RedisClient's codes ("fleet.connect", "fleet.tls", "fleet.auth", "fleet.io").
    Result<std::vector<RedisReply>> pipeline(const std::vector<std::vector<std::string>>& commands);
    Result<RedisReply> command(const std::vector<std::string>& args);

    bool connected() const { return client_.has_value(); }
    void reset() { client_.reset(); }
    // Counts the connections made: a new one may reach another node (a failover, a moved slot)
    // whose data differs from what the last one showed.
    std::uint64_t generation() const { return generation_; }
    // The node this link talks to ("host:port"), "" when not connected.
    std::string node() const { return client_ ? client_->node().text() : std::string(); }

  private:
    Result<RedisClient> connect_data(const config::RedisNode& node);
    Result<RedisClient> connect_cluster();
    Result<RedisClient> connect_sentinel();
    Result<void> ensure_connected();
    std::optional<config::RedisNode> ask_sentinel(RedisClient& sentinel, Error& why);
    void check_master();
    Result<void> follow_redirects(const std::vector<std::vector<std::string>>& commands,
                                  std::vector<RedisReply>& replies);

    const config::FleetConfig config_;
    const std::optional<RedisTls> tls_;
    RedisLogins logins_;  // wiped in the destructor
    const std::chrono::milliseconds timeout_;
    std::optional<RedisClient> client_;
    std::optional<config::RedisNode> preferred_;  // cluster: where MOVED last pointed
    std::uint64_t generation_ = 0;
    std::optional<RedisClient> sentinel_;  // sentinel: the one that answered last
    std::chrono::steady_clock::time_point next_master_check_{};
};

}  // namespace cloakroom::fleet
