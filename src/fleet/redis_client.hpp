// A blocking Redis connection for the fleet thread (fleet/fleet.hpp), over hiredis's synchronous
// API with a timeout on every read and write. Blocking is fine there: the fleet thread does
// nothing else, and no worker ever waits for it.
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

#include "util/result.hpp"

struct redisContext;

namespace cloakroom::fleet {

struct RedisReply {
    enum class Type { Nil, String, Status, Integer, Array, Error } type = Type::Nil;
    std::string text;  // String, Status, Error
    long long integer = 0;
    std::vector<RedisReply> elements;
};

class RedisClient {
  public:
    // Connects and, when `password` is not empty, authenticates (AUTH [user] password).
    // Errors: "fleet.connect" (unreachable, timed out), "fleet.auth" (Redis refused the login).
    static Result<RedisClient> connect(const std::string& host, std::uint16_t port,
                                       const std::string& user, const std::string& password,
                                       std::chrono::milliseconds timeout);
    RedisClient(RedisClient&&) noexcept;
    RedisClient& operator=(RedisClient&&) noexcept;
    ~RedisClient();

    // Sends the commands in one write and reads every reply (a pipeline). A Redis error reply is
    // a reply (Type::Error); a broken connection is an error ("fleet.io").
    Result<std::vector<RedisReply>> pipeline(const std::vector<std::vector<std::string>>& commands);
    Result<RedisReply> command(const std::vector<std::string>& args);

  private:
    struct Free {
        void operator()(redisContext* context) const;
    };
    explicit RedisClient(std::unique_ptr<redisContext, Free> context)
        : context_(std::move(context)) {}
    std::unique_ptr<redisContext, Free> context_;
};

}  // namespace cloakroom::fleet
