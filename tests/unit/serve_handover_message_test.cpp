// The hand-over protocol's requests: each malformed message gets its own precise error, and
// the number of sockets must match "listeners" exactly (so no descriptor is silently ignored).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "serve/handover_message.hpp"

namespace cloakroom::serve {
namespace {

std::string error_of(std::string_view text, std::size_t fds) {
    auto parsed = parse_handover_request(text, fds);
    EXPECT_FALSE(parsed.ok()) << text;
    return parsed.ok() ? "" : parsed.error().message;
}

TEST(HandoverMessage, AdoptWithEveryKind) {
    auto parsed = parse_handover_request(
        R"({"op":"adopt","session":"s1","token_id":"ab01","listeners":["forward","transparent","dns","dns-tcp"]})",
        4);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->op, HandoverRequest::Op::Adopt);
    EXPECT_EQ(parsed->session, "s1");
    EXPECT_EQ(parsed->token_id, "ab01");
    ASSERT_EQ(parsed->listeners.size(), 4u);
    EXPECT_EQ(parsed->listeners[0].kind, ListenerKind::Forward);
    EXPECT_EQ(parsed->listeners[1].kind, ListenerKind::Transparent);
    EXPECT_EQ(parsed->listeners[2].kind, ListenerKind::Dns);
    EXPECT_EQ(parsed->listeners[3].kind, ListenerKind::DnsTcp);
    for (const auto& listener : parsed->listeners) EXPECT_EQ(listener.database, "");
}

TEST(HandoverMessage, DevToolsListenersAndOneConnector) {
    auto parsed = parse_handover_request(
        R"({"op":"adopt","session":"s","listeners":["forward","cdp","cdp","connector"]})", 4);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->listeners[1].kind, ListenerKind::Cdp);
    EXPECT_EQ(parsed->listeners[2].name(), "cdp");
    EXPECT_EQ(parsed->listeners[3].kind, ListenerKind::Connector);
    EXPECT_EQ(parsed->listeners[3].name(), "connector");
    EXPECT_EQ(error_of(R"({"op":"adopt","session":"s","listeners":["connector","connector"]})", 2),
              "\"listeners\" names more than one connector");
}

TEST(HandoverMessage, DatabaseKindsNameTheirDatabase) {
    auto parsed = parse_handover_request(
        R"({"op":"adopt","session":"s","listeners":["forward","database:app","database:crm.v2_x-1"]})",
        3);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    ASSERT_EQ(parsed->listeners.size(), 3u);
    EXPECT_EQ(parsed->listeners[1].kind, ListenerKind::Database);
    EXPECT_EQ(parsed->listeners[1].database, "app");
    EXPECT_EQ(parsed->listeners[1].name(), "database:app");
    EXPECT_EQ(parsed->listeners[2].database, "crm.v2_x-1");
    EXPECT_EQ(parsed->listeners[0].name(), "forward");
    const std::string longest(253, 'd');
    auto at_limit = parse_handover_request(
        R"({"op":"adopt","session":"s","listeners":["database:)" + longest + R"("]})", 1);
    ASSERT_TRUE(at_limit.ok()) << at_limit.error().message;
    EXPECT_EQ(at_limit->listeners[0].database, longest);
}

TEST(HandoverMessage, MalformedDatabaseKindsArePreciseErrors) {
    auto adopt = [](const std::string& kind) {
        return R"({"op":"adopt","session":"s","listeners":[")" + kind + R"("]})";
    };
    EXPECT_EQ(error_of(adopt("database:"), 1), "listener kind \"database:\" names no database");
    const std::string rule = "\": a database name is 1 to 253 letters, digits, '-', '_' or '.'";
    EXPECT_EQ(error_of(adopt("database:a b"), 1), "listener kind \"database:a b" + rule);
    EXPECT_EQ(error_of(adopt("database:a/b"), 1), "listener kind \"database:a/b" + rule);
    EXPECT_EQ(error_of(adopt("database:a:b"), 1), "listener kind \"database:a:b" + rule);
    EXPECT_EQ(error_of(adopt(std::string("database:") + std::string(254, 'd')), 1),
              "listener kind \"database:" + std::string(32, 'd') + rule);
    // A control character is never echoed back.
    EXPECT_EQ(error_of(adopt("database:a\\u0007b"), 1), "listener kind \"database:?" + rule);
    // The kind is "database:NAME", nothing else.
    for (const char* kind :
         {"database", "Database:app", "db:app", "database-app", " database:app"}) {
        EXPECT_EQ(error_of(adopt(kind), 1),
                  "unknown listener kind \"" + std::string(kind) +
                      "\" (expected forward, transparent, dns, dns-tcp, cdp, connector or "
                      "database:NAME)");
    }
}

TEST(HandoverMessage, Status) {
    auto parsed = parse_handover_request(R"({"op":"status"})", 0);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->op, HandoverRequest::Op::Status);
    EXPECT_EQ(error_of(R"({"op":"status"})", 1), "\"status\" takes no file descriptors");
}

TEST(HandoverMessage, MalformedMessagesArePreciseErrors) {
    EXPECT_EQ(error_of("{", 0), "bad JSON");
    EXPECT_EQ(error_of("", 0), "bad JSON");
    EXPECT_EQ(error_of("[1]", 0), "the message must be a JSON object");
    EXPECT_EQ(error_of(R"({"op":1})", 0), "\"op\" (a string) is missing");
    EXPECT_EQ(error_of(R"({"op":"launch"})", 0),
              "unknown op \"launch\" (expected \"adopt\" or \"status\")");
    EXPECT_EQ(error_of(R"({"op":"adopt","listeners":["forward"]})", 1),
              "\"session\" (a string) is missing");
    EXPECT_EQ(error_of(R"({"op":"adopt","session":"","listeners":["forward"]})", 1),
              "\"session\" must be 1 to 64 printable ASCII characters");
    EXPECT_EQ(error_of(R"({"op":"adopt","session":"a\nb","listeners":["forward"]})", 1),
              "\"session\" must be 1 to 64 printable ASCII characters");
    EXPECT_EQ(
        error_of(R"({"op":"adopt","session":"s","token_id":"XYZ","listeners":["forward"]})", 1),
        "\"token_id\" must be lower-case hex");
    EXPECT_EQ(error_of(R"({"op":"adopt","session":"s"})", 0),
              "\"listeners\" (a list of listener kinds) is missing");
    EXPECT_EQ(error_of(R"({"op":"adopt","session":"s","listeners":[]})", 0),
              "\"listeners\" is empty");
    EXPECT_EQ(error_of(R"({"op":"adopt","session":"s","listeners":["socks"]})", 1),
              "unknown listener kind \"socks\" (expected forward, transparent, dns, dns-tcp, cdp, "
              "connector or database:NAME)");
    EXPECT_EQ(error_of(R"({"op":"adopt","session":"s","listeners":[3]})", 1),
              "\"listeners\" must be a list of strings");
}

TEST(HandoverMessage, SocketCountMustMatchListeners) {
    const std::string two = R"({"op":"adopt","session":"s","listeners":["forward","dns"]})";
    EXPECT_EQ(error_of(two, 1), "\"listeners\" names 2 sockets but 1 came with the message");
    EXPECT_EQ(error_of(two, 3), "\"listeners\" names 2 sockets but 3 came with the message");
    EXPECT_EQ(error_of(two, 0), "\"listeners\" names 2 sockets but 0 came with the message");
    std::string many = R"({"op":"adopt","session":"s","listeners":[)";
    for (std::size_t i = 0; i <= kMaxHandoverFds; ++i) many += (i ? ",\"dns\"" : "\"dns\"");
    many += "]}";
    EXPECT_EQ(error_of(many, kMaxHandoverFds + 1), "\"listeners\" names more than 16 sockets");
}

TEST(HandoverMessage, RepliesAreJson) {
    EXPECT_EQ(nlohmann::json::parse(handover_ok())["ok"], true);
    auto error = nlohmann::json::parse(handover_error("bad \"x\"\n"));
    EXPECT_EQ(error["ok"], false);
    EXPECT_EQ(error["error"], "bad \"x\"\n");
    auto status = nlohmann::json::parse(handover_status({{"s1", "ab", 3}}));
    EXPECT_EQ(status["sessions"][0]["session"], "s1");
    EXPECT_EQ(status["sessions"][0]["token_id"], "ab");
    EXPECT_EQ(status["sessions"][0]["listeners"], 3);
}

}  // namespace
}  // namespace cloakroom::serve
