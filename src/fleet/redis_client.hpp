// A blocking connection to one Redis node for the fleet thread (fleet/fleet.hpp): hiredis formats
// the commands (redisFormatCommandArgv) and parses the replies (its reader); the bytes travel
// over a RedisTransport (TCP or TLS, a timeout on every read and write). Blocking is fine there:
// the fleet thread does nothing else, and no worker ever waits for it.
//
// Replies are copied out of hiredis into plain values, so no hiredis type leaves this file. Error
// messages come from Redis or the socket, never from the command's arguments: a password given
// to AUTH cannot end up in a message.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "fleet/redis_transport.hpp"
#include "util/result.hpp"

struct redisReader;

namespace cloakroom::fleet {

struct RedisReply {
    enum class Type { Nil, String, Status, Integer, Array, Error } type = Type::Nil;
    std::string text;  // String, Status, Error
    long long integer = 0;
    std::vector<RedisReply> elements;
};

class RedisClient {
  public:
    // Connects (over TLS when `tls` is not null) and, when `password` is not empty,
    // authenticates (AUTH [user] password). Errors: "fleet.connect" (unreachable, timed out),
    // "fleet.tls" (certificate rejected), "fleet.auth" (Redis refused the login).
    static Result<RedisClient> connect(const config::RedisNode& node, const RedisTls* tls,
                                       const std::string& user, const std::string& password,
                                       std::chrono::milliseconds timeout);
    RedisClient(RedisClient&&) noexcept;
    RedisClient& operator=(RedisClient&&) noexcept;
    ~RedisClient();

    // Sends the commands in one write and reads every reply (a pipeline). A Redis error reply is
    // a reply (Type::Error); a broken connection is an error ("fleet.io").
    Result<std::vector<RedisReply>> pipeline(const std::vector<std::vector<std::string>>& commands);
    Result<RedisReply> command(const std::vector<std::string>& args);

    const config::RedisNode& node() const { return transport_.node(); }

  private:
    struct Free {
        void operator()(redisReader* reader) const;
    };
    RedisClient(RedisTransport transport, std::unique_ptr<redisReader, Free> reader)
        : transport_(std::move(transport)), reader_(std::move(reader)) {}
    RedisTransport transport_;
    std::unique_ptr<redisReader, Free> reader_;
};

// The command bytes of `args` (RESP), as hiredis formats them. Errors: "fleet.io".
Result<std::string> format_command(const std::vector<std::string>& args);

}  // namespace cloakroom::fleet
