#include "fleet/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>

#include <cstdlib>

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

// hiredis replies are freed by freeReplyObject, whatever happens in between.
struct ReplyFree {
    void operator()(void* reply) const { freeReplyObject(reply); }
};

}  // namespace

void RedisClient::Free::operator()(redisReader* reader) const {
    redisReaderFree(reader);
}

RedisClient::RedisClient(RedisClient&&) noexcept = default;
RedisClient& RedisClient::operator=(RedisClient&&) noexcept = default;
RedisClient::~RedisClient() = default;

Result<std::string> format_command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const auto& arg : args) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
    }
    char* raw = nullptr;
    const int length =
        redisFormatCommandArgv(&raw, static_cast<int>(argv.size()), argv.data(), lengths.data());
    if (length < 0 || raw == nullptr) return make_error("fleet.io", "cannot format a command");
    std::string out(raw, static_cast<std::size_t>(length));
    // The buffer may hold AUTH's password: wiped before it goes back to the allocator.
    OPENSSL_cleanse(raw, static_cast<std::size_t>(length));
    redisFreeCommand(raw);
    return out;
}

Result<RedisClient> RedisClient::connect(const config::RedisNode& node, const RedisTls* tls,
                                         const std::string& user, const std::string& password,
                                         std::chrono::milliseconds timeout) {
    auto transport = RedisTransport::connect(node, tls, timeout);
    if (!transport.ok()) return transport.error();
    std::unique_ptr<redisReader, Free> reader(redisReaderCreate());
    if (!reader) return make_error("fleet.connect", "out of memory");
    RedisClient client(std::move(*transport), std::move(reader));
    const std::string where = " at " + node.text();
    if (!password.empty()) {
        std::vector<std::string> auth{"AUTH"};
        if (!user.empty()) auth.push_back(user);
        auth.push_back(password);
        auto reply = client.command(auth);
        // Wipe our copy of the password in the argument vector.
        for (auto& arg : auth) OPENSSL_cleanse(arg.data(), arg.size());
        if (!reply.ok()) return reply.error();
        if (reply->type == RedisReply::Type::Error) {
            return make_error("fleet.auth", "Redis" + where + " refused the login" +
                                                (user.empty() ? "" : " of user \"" + user + "\"") +
                                                ": " + reply->text);
        }
    }
    // A server requiring a password we did not give answers NOAUTH to the first command.
    auto ping = client.command({"PING"});
    if (!ping.ok()) return ping.error();
    if (ping->type == RedisReply::Type::Error) {
        return make_error("fleet.auth", "Redis" + where + " refused the connection: " + ping->text);
    }
    return client;
}

Result<std::vector<RedisReply>> RedisClient::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
    if (!reader_) return make_error("fleet.io", "not connected");
    std::string out;
    for (const auto& args : commands) {
        auto formatted = format_command(args);
        if (!formatted.ok()) return formatted.error();
        out += *formatted;
        OPENSSL_cleanse(formatted->data(), formatted->size());
    }
    auto written = transport_.write_all(out);
    OPENSSL_cleanse(out.data(), out.size());
    if (!written.ok()) return written.error();
    std::vector<RedisReply> replies;
    replies.reserve(commands.size());
    char buffer[16384];
    while (replies.size() < commands.size()) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
            reader_.reset();  // a protocol error leaves the reader unusable
            return make_error("fleet.io", "Redis at " + node().text() + " sent a malformed reply");
        }
        if (raw != nullptr) {
            std::unique_ptr<void, ReplyFree> reply(raw);
            replies.push_back(copy(*static_cast<redisReply*>(raw)));
            continue;
        }
        auto got = transport_.read_some(buffer, sizeof buffer);
        if (!got.ok()) return got.error();
        if (redisReaderFeed(reader_.get(), buffer, *got) != REDIS_OK) {
            return make_error("fleet.io", "out of memory");
        }
    }
    return replies;
}

Result<RedisReply> RedisClient::command(const std::vector<std::string>& args) {
    auto replies = pipeline({args});
    if (!replies.ok()) return replies.error();
    return std::move(replies->front());
}

}  // namespace cloakroom::fleet
