#include "fleet/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

namespace cloakroom::fleet {
namespace {

RedisReply copy(const redisReply& reply) {
    RedisReply out;
    switch (reply.type) {
        case REDIS_REPLY_STRING:
            out.type = RedisReply::Type::String;
            out.text.assign(reply.str, reply.len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = RedisReply::Type::Status;
            out.text.assign(reply.str, reply.len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = RedisReply::Type::Error;
            out.text.assign(reply.str, reply.len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = RedisReply::Type::Integer;
            out.integer = reply.integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = RedisReply::Type::Array;
            out.elements.reserve(reply.elements);
            for (std::size_t i = 0; i < reply.elements; ++i) {
                out.elements.push_back(copy(*reply.element[i]));
            }
            break;
        default:
            break;
    }
    return out;
}

timeval to_timeval(std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    return tv;
}

std::string context_error(const redisContext* context) {
    if (context == nullptr) return "out of memory";
    return context->errstr[0] != '\0' ? std::string(context->errstr) : "connection error";
}

}  // namespace

void RedisClient::Free::operator()(redisContext* context) const {
    redisFree(context);
}

RedisClient::RedisClient(RedisClient&&) noexcept = default;
RedisClient& RedisClient::operator=(RedisClient&&) noexcept = default;
RedisClient::~RedisClient() = default;

Result<RedisClient> RedisClient::connect(const std::string& host, std::uint16_t port,
                                         const std::string& user, const std::string& password,
                                         std::chrono::milliseconds timeout) {
    std::unique_ptr<redisContext, Free> context(
        redisConnectWithTimeout(host.c_str(), port, to_timeval(timeout)));
    if (context == nullptr || context->err != 0) {
        return make_error("fleet.connect", "cannot connect to Redis at " + host + ":" +
                                               std::to_string(port) + ": " +
                                               context_error(context.get()));
    }
    if (redisSetTimeout(context.get(), to_timeval(timeout)) != REDIS_OK) {
        return make_error("fleet.connect", "cannot set the Redis timeout");
    }
    RedisClient client(std::move(context));
    if (!password.empty()) {
        std::vector<std::string> auth{"AUTH"};
        if (!user.empty()) auth.push_back(user);
        auth.push_back(password);
        auto reply = client.command(auth);
        // Wipe our copy of the password in the argument vector.
        for (auto& arg : auth) std::fill(arg.begin(), arg.end(), '\0');
        if (!reply.ok()) return reply.error();
        if (reply->type == RedisReply::Type::Error) {
            return make_error("fleet.auth", "Redis refused the login" +
                                                (user.empty() ? "" : " of user \"" + user + "\"") +
                                                ": " + reply->text);
        }
    }
    // A server requiring a password we did not give answers NOAUTH to the first command.
    auto ping = client.command({"PING"});
    if (!ping.ok()) return ping.error();
    if (ping->type == RedisReply::Type::Error) {
        return make_error("fleet.auth", "Redis refused the connection: " + ping->text);
    }
    return client;
}

Result<std::vector<RedisReply>> RedisClient::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
    redisContext* context = context_.get();
    if (context == nullptr) return make_error("fleet.io", "not connected");
    for (const auto& args : commands) {
        std::vector<const char*> argv;
        std::vector<std::size_t> lengths;
        argv.reserve(args.size());
        lengths.reserve(args.size());
        for (const auto& arg : args) {
            argv.push_back(arg.data());
            lengths.push_back(arg.size());
        }
        if (redisAppendCommandArgv(context, static_cast<int>(argv.size()), argv.data(),
                                   lengths.data()) != REDIS_OK) {
            return make_error("fleet.io", "Redis: " + context_error(context));
        }
    }
    std::vector<RedisReply> replies;
    replies.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(context, &raw) != REDIS_OK || raw == nullptr) {
            return make_error("fleet.io", "Redis: " + context_error(context));
        }
        replies.push_back(copy(*static_cast<redisReply*>(raw)));
        freeReplyObject(raw);
    }
    return replies;
}

Result<RedisReply> RedisClient::command(const std::vector<std::string>& args) {
    auto replies = pipeline({args});
    if (!replies.ok()) return replies.error();
    return std::move(replies->front());
}

}  // namespace cloakroom::fleet
