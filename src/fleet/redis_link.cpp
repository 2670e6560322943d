#include "fleet/redis_link.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "fleet/redis_redirect.hpp"

namespace cloakroom::fleet {
namespace {

// Of two reasons why no node could be reached, the one an operator can act on: a refused login
// or certificate is a configuration mistake and must not hide behind "connection refused".
Error more_telling(std::optional<Error> kept, Error next) {
    if (!kept) return next;
    const auto rank = [](const Error& e) {
        return e.code == "fleet.auth" || e.code == "fleet.tls" ? 1 : 0;
    };
    return rank(next) > rank(*kept) ? next : *kept;
}

std::string node_list(const std::vector<config::RedisNode>& nodes) {
    std::string out;
    for (const auto& node : nodes) out += (out.empty() ? "" : ", ") + node.text();
    return out;
}

}  // namespace

RedisLink::RedisLink(config::FleetConfig config, std::optional<RedisTls> tls, RedisLogins logins,
                     std::chrono::milliseconds timeout)
    : config_(std::move(config)),
      tls_(std::move(tls)),
      logins_(std::move(logins)),
      timeout_(timeout) {}

RedisLink::~RedisLink() {
    OPENSSL_cleanse(logins_.password.data(), logins_.password.size());
    OPENSSL_cleanse(logins_.sentinel_password.data(), logins_.sentinel_password.size());
}

Result<RedisClient> RedisLink::connect_data(const config::RedisNode& node) {
    return RedisClient::connect(node, tls_ ? &*tls_ : nullptr, config_.user, logins_.password,
                                timeout_);
}

Result<RedisClient> RedisLink::connect_cluster() {
    std::vector<config::RedisNode> candidates;
    if (preferred_) candidates.push_back(*preferred_);
    for (const auto& seed : config_.nodes) {
        if (!preferred_ || seed != *preferred_) candidates.push_back(seed);
    }
    std::optional<Error> why;
    for (const auto& node : candidates) {
        auto client = connect_data(node);
        if (client.ok()) return client;
        why = more_telling(why, client.error());
    }
    preferred_.reset();
    return make_error(why->code, "no Redis Cluster node answered (" + node_list(candidates) +
                                     "); last: " + why->message);
}

// The master's address per `sentinel`, or nullopt with `why` set.
std::optional<config::RedisNode> RedisLink::ask_sentinel(RedisClient& sentinel, Error& why) {
    auto reply = sentinel.command({"SENTINEL", "get-master-addr-by-name", config_.sentinel_master});
    if (!reply.ok()) {
        why = reply.error();
        return std::nullopt;
    }
    const std::string who = "sentinel " + sentinel.node().text();
    if (reply->type != RedisReply::Type::Array || reply->elements.size() != 2) {
        const std::string said =
            reply->type == RedisReply::Type::Error ? reply->text : "it does not know that master";
        why = make_error("fleet.connect", who + " gave no address for master \"" +
                                              config_.sentinel_master + "\": " + said);
        return std::nullopt;
    }
    config::RedisNode master;
    master.host = reply->elements[0].text;
    unsigned port = 0;
    const std::string& port_text = reply->elements[1].text;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size()) port = 0;
    if (master.host.empty() || port == 0 || port > 65535) {
        why = make_error("fleet.connect", who + " gave a malformed address");
        return std::nullopt;
    }
    master.port = static_cast<std::uint16_t>(port);
    return master;
}

void RedisLink::check_master() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_master_check_) return;
    next_master_check_ = now + std::chrono::seconds(1);
    if (!sentinel_) {
        for (const auto& node : config_.nodes) {
            auto asked = RedisClient::connect(node, tls_ ? &*tls_ : nullptr, config_.sentinel_user,
                                              logins_.sentinel_password, timeout_);
            if (asked.ok()) {
                sentinel_.emplace(std::move(*asked));
                break;
            }
        }
        // No sentinel answers: keep the master we have; it may well still be the master.
        if (!sentinel_) return;
    }
    Error why;
    const auto master = ask_sentinel(*sentinel_, why);
    if (!master) {
        sentinel_.reset();
        return;
    }
    if (client_ && client_->node() != *master) {
        spdlog::info("fleet: the sentinels moved master \"{}\" from {} to {}",
                     config_.sentinel_master, client_->node().text(), master->text());
        client_.reset();
    }
}

Result<RedisClient> RedisLink::connect_sentinel() {
    std::optional<Error> why;
    for (const auto& sentinel : config_.nodes) {
        auto asked = RedisClient::connect(sentinel, tls_ ? &*tls_ : nullptr, config_.sentinel_user,
                                          logins_.sentinel_password, timeout_);
        if (!asked.ok()) {
            why = more_telling(why, asked.error());
            continue;
        }
        Error failed;
        const auto found = ask_sentinel(*asked, failed);
        if (!found) {
            why = more_telling(why, failed);
            continue;
        }
        const config::RedisNode master = *found;
        sentinel_.emplace(std::move(*asked));
        next_master_check_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        auto client = connect_data(master);
        if (!client.ok()) {
            why = more_telling(why, client.error());
            continue;
        }
        // The sentinels may lag behind a failover: only a node that says it is the master
        // takes writes.
        auto role = client->command({"ROLE"});
        if (!role.ok()) {
            why = more_telling(why, role.error());
            continue;
        }
        if (role->type != RedisReply::Type::Array || role->elements.empty() ||
            role->elements[0].text != "master") {
            const std::string said =
                role->type == RedisReply::Type::Error ? role->text
                : role->type == RedisReply::Type::Array && !role->elements.empty()
                    ? "its role is " + role->elements[0].text
                    : "unexpected ROLE reply";
            why = more_telling(
                why,
                make_error("fleet.connect", "Redis at " + master.text() + " (master \"" +
                                                config_.sentinel_master + "\" per sentinel " +
                                                sentinel.text() + ") is not the master: " + said));
            continue;
        }
        return client;
    }
    return make_error(why->code, "no sentinel led to master \"" + config_.sentinel_master + "\" (" +
                                     node_list(config_.nodes) + "); last: " + why->message);
}

Result<void> RedisLink::ensure_connected() {
    if (client_) return {};
    Result<RedisClient> client = make_error("fleet.connect", "no Redis configured");
    switch (config_.topology) {
        case config::RedisTopology::Single:
            client = connect_data(config_.nodes.front());
            break;
        case config::RedisTopology::Cluster:
            client = connect_cluster();
            break;
        case config::RedisTopology::Sentinel:
            client = connect_sentinel();
            break;
    }
    if (!client.ok()) return client.error();
    client_.emplace(std::move(*client));
    ++generation_;
    return {};
}

Result<void> RedisLink::follow_redirects(const std::vector<std::vector<std::string>>& commands,
                                         std::vector<RedisReply>& replies) {
    for (int hop = 0;; ++hop) {
        std::optional<Redirect> first;
        std::vector<std::size_t> pending;
        for (std::size_t i = 0; i < replies.size(); ++i) {
            if (replies[i].type != RedisReply::Type::Error) continue;
            auto redirect = parse_redirect(replies[i].text, client_->node().host);
            if (!redirect) continue;
            if (!first) first = redirect;
            if (redirect->kind == first->kind && redirect->node == first->node)
                pending.push_back(i);
        }
        if (!first) return {};
        if (config_.topology != config::RedisTopology::Cluster) {
            return make_error("fleet.io", "Redis at " + client_->node().text() + " redirects (" +
                                              replies[pending.front()].text +
                                              "): it is a cluster node; configure cluster = [...]");
        }
        if (hop == kMaxRedirects) {
            return make_error("fleet.io", "Redis Cluster redirected more than " +
                                              std::to_string(kMaxRedirects) +
                                              " times (MOVED/ASK): the cluster is resharding or "
                                              "misconfigured");
        }
        std::vector<std::vector<std::string>> again;
        for (const std::size_t i : pending) {
            if (first->kind == Redirect::Kind::Ask) again.push_back({"ASKING"});
            again.push_back(commands[i]);
        }
        Result<std::vector<RedisReply>> answered = make_error("fleet.io", "not sent");
        if (first->kind == Redirect::Kind::Moved) {
            // The slot lives there now: so does this link.
            client_.reset();
            auto moved = connect_data(first->node);
            if (!moved.ok()) return moved.error();
            preferred_ = first->node;
            client_.emplace(std::move(*moved));
            ++generation_;
            answered = client_->pipeline(again);
        } else {
            auto asked = connect_data(first->node);
            if (!asked.ok()) return asked.error();
            answered = asked->pipeline(again);
        }
        if (!answered.ok()) return answered.error();
        const std::size_t stride = first->kind == Redirect::Kind::Ask ? 2 : 1;
        for (std::size_t k = 0; k < pending.size(); ++k) {
            replies[pending[k]] = std::move((*answered)[k * stride + stride - 1]);
        }
    }
}

Result<std::vector<RedisReply>> RedisLink::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
    if (config_.topology == config::RedisTopology::Sentinel && client_) check_master();
    if (auto connected = ensure_connected(); !connected.ok()) return connected.error();
    auto replies = client_->pipeline(commands);
    if (!replies.ok()) {
        client_.reset();
        return replies.error();
    }
    if (auto followed = follow_redirects(commands, *replies); !followed.ok()) {
        client_.reset();
        return followed.error();
    }
    for (const auto& reply : *replies) {
        if (reply.type == RedisReply::Type::Error && reply.text.starts_with("READONLY")) {
            // A demoted master (Sentinel failover) or a replica: find the master again.
            const std::string where = client_ ? client_->node().text() : std::string("?");
            client_.reset();
            return make_error("fleet.io", "Redis at " + where + " is read-only now (" + reply.text +
                                              "); looking for the master again");
        }
    }
    return replies;
}

Result<RedisReply> RedisLink::command(const std::vector<std::string>& args) {
    auto replies = pipeline({args});
    if (!replies.ok()) return replies.error();
    return std::move(replies->front());
}

}  // namespace cloakroom::fleet
