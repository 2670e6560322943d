// Database caveats (DBService, DBLogin, DBName, DBCommand): wire bytes, decoding, evaluation of
// database logins, the cross-kind rule between HTTP and database access, and inspect output.
#include <gtest/gtest.h>

#include <string>

#include "token/inspect.hpp"
#include "token/macaroon.hpp"
#include "token/token.hpp"
#include "util/hex.hpp"

namespace cloakroom::token {
namespace {

const TokenFormat kFormat;                 // acm_, location "cloakroom"
constexpr std::int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z

using List = std::vector<std::string>;

KeyStore test_keys() {
    KeyStore keys;
    EXPECT_TRUE(keys.add("primary", secrets::SecretValue(std::string(32, 'k'))).ok());
    return keys;
}

std::string mint(const KeyStore& keys, const std::vector<Caveat>& caveats) {
    auto token = mint_token(keys, "primary", caveats, kFormat);
    EXPECT_TRUE(token.ok()) << token.error().message;
    return token.ok() ? *token : std::string();
}

DbAccessRequest login(std::string service = "app", std::string user = "readonly",
                      std::string database = "shop", std::string protocol = "postgres",
                      std::int64_t at = kNow) {
    return DbAccessRequest{std::move(service), std::move(user), std::move(database),
                           std::move(protocol), at};
}

AccessRequest http_get() {
    return AccessRequest{"api.stripe.com", "GET", "/v1/charges", kNow};
}

std::string set_hex(const std::vector<Caveat>& caveats) {
    return hex_encode(encode_caveat_set(caveats));
}

std::string decode_error(const std::string& hex) {
    auto decoded = decode_caveat_set(*hex_decode(hex));
    EXPECT_FALSE(decoded.ok());
    return decoded.ok() ? std::string() : decoded.error().message;
}

// ---- wire format ----

TEST(TokenDbCaveats, TypeNumbersAndNames) {
    EXPECT_EQ(kTypeDbServices, 0x1434C0001u);
    EXPECT_EQ(kTypeDbLogins, 0x1434C0002u);
    EXPECT_EQ(kTypeDbNames, 0x1434C0003u);
    EXPECT_EQ(kTypeDbCommands, 0x1434C0004u);
    EXPECT_EQ(caveat_type(DbServices{}), kTypeDbServices);
    EXPECT_EQ(caveat_type(DbLogins{}), kTypeDbLogins);
    EXPECT_EQ(caveat_type(DbNames{}), kTypeDbNames);
    EXPECT_EQ(caveat_type(DbCommands{}), kTypeDbCommands);
    EXPECT_EQ(caveat_type_name(kTypeDbServices), "DBService");
    EXPECT_EQ(caveat_type_name(kTypeDbLogins), "DBLogin");
    EXPECT_EQ(caveat_type_name(kTypeDbNames), "DBName");
    EXPECT_EQ(caveat_type_name(kTypeDbCommands), "DBCommand");
    EXPECT_EQ(caveat_type_name(kCloakroomCaveatBase + 6), "Unregistered");
}

TEST(TokenDbCaveats, ExactBytes) {
    // Type as msgpack uint64 (cf + 8 bytes), body a 1-element array holding the list.
    EXPECT_EQ(set_hex({db_services_caveat({"app"})}),
              "92cf00000001434c0001"
              "9191a3617070");
    EXPECT_EQ(set_hex({db_logins_caveat({"ro", "rw"})}),
              "92cf00000001434c0002"
              "9192a2726fa27277");
    EXPECT_EQ(set_hex({db_names_caveat({"shop"})}),
              "92cf00000001434c0003"
              "9191a473686f70");
    EXPECT_EQ(set_hex({db_commands_caveat({"get", "@read"})}),
              "92cf00000001434c0004"
              "9192a3474554a54072656164");
    // Nil (Go nil slice) and empty stay apart.
    EXPECT_EQ(set_hex({DbServices{std::nullopt}}),
              "92cf00000001434c0001"
              "91c0");
    EXPECT_EQ(set_hex({DbServices{List{}}}),
              "92cf00000001434c0001"
              "9190");
    EXPECT_EQ(set_hex({DbCommands{std::nullopt}}),
              "92cf00000001434c0004"
              "91c0");
    // The HMAC input of one caveat is the same one-caveat set.
    EXPECT_EQ(hex_encode(encode_caveat_hmac_input(db_names_caveat({"shop"}))),
              "92cf00000001434c0003"
              "9191a473686f70");
}

TEST(TokenDbCaveats, DecodeRoundTripKeepsNilAndEmptyApart) {
    const std::vector<Caveat> caveats = {
        db_services_caveat({"app", "cache"}),
        DbServices{std::nullopt},
        DbLogins{List{}},
        DbLogins{std::nullopt},
        db_names_caveat({"shop", ""}),
        DbNames{std::nullopt},
        db_commands_caveat({"GET", "SCAN", "@read"}),
        DbCommands{List{}},
    };
    const std::string wire = encode_caveat_set(caveats);
    auto decoded = decode_caveat_set(wire);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(*decoded, caveats);
    EXPECT_EQ(std::get<DbServices>((*decoded)[1]).services, std::nullopt);
    ASSERT_TRUE(std::get<DbLogins>((*decoded)[2]).logins.has_value());
    EXPECT_TRUE(std::get<DbLogins>((*decoded)[2]).logins->empty());
    EXPECT_EQ(std::get<DbNames>((*decoded)[4]).names, (List{"shop", ""}));
    EXPECT_EQ(encode_caveat_set(*decoded), wire);
    // Decoded from hand-written bytes, not only from our own encoder.
    auto by_hand = decode_caveat_set(*hex_decode("92cf00000001434c00029191a2726f"));
    ASSERT_TRUE(by_hand.ok()) << by_hand.error().message;
    ASSERT_TRUE(std::holds_alternative<DbLogins>((*by_hand)[0]));
    EXPECT_EQ(std::get<DbLogins>((*by_hand)[0]).logins, (List{"ro"}));
}

TEST(TokenDbCaveats, MalformedBodiesAreDecodeErrors) {
    // A bare list instead of the 1-element struct array.
    EXPECT_EQ(decode_error("94cf00000001434c00019191a3617070"
                           "cf00000001434c000192a161a162"),
              "decode: caveat 2: DBService body must be an array of 1 element, got array of 2");
    EXPECT_EQ(decode_error("92cf00000001434c000291a3617070"),
              "decode: caveat 1: DBLogin logins must be an array of str or nil, got str");
    EXPECT_EQ(decode_error("92cf00000001434c00039191c0"),
              "decode: caveat 1: DBName names entry 1 must be str, got nil");
    EXPECT_EQ(decode_error("92cf00000001434c0004c0"),
              "decode: caveat 1: DBCommand body must be an array of 1 element, got nil");
    // A type number next to ours stays unknown (kept verbatim).
    auto next = decode_caveat_set(*hex_decode("92cf00000001434c000691c0"));
    ASSERT_TRUE(next.ok());
    EXPECT_TRUE(std::holds_alternative<UnknownCaveat>((*next)[0]));
}

TEST(TokenDbCaveats, CommandsAreNormalized) {
    const Caveat c = db_commands_caveat({"get", "Scan", "HGETALL", "@READ", "@Keyspace"});
    EXPECT_EQ(std::get<DbCommands>(c).commands,
              (List{"GET", "SCAN", "HGETALL", "@read", "@keyspace"}));
    // The others are kept exactly as given (names compare case-sensitively).
    EXPECT_EQ(std::get<DbServices>(db_services_caveat({"App"})).services, (List{"App"}));
    EXPECT_EQ(std::get<DbLogins>(db_logins_caveat({"ReadOnly"})).logins, (List{"ReadOnly"}));
    EXPECT_EQ(std::get<DbNames>(db_names_caveat({"Shop"})).names, (List{"Shop"}));
}

// ---- verification of database logins ----

TEST(TokenDbCaveats, MintAttenuateVerify) {
    const KeyStore keys = test_keys();
    const std::string token =
        mint(keys, {db_services_caveat({"app", "cache"}), db_logins_caveat({"readonly", "writer"}),
                    validity_caveat(kNow - 10, kNow + 10)});
    const VerifyOutcome out = verify_token(token, login(), keys, kFormat);
    EXPECT_TRUE(out.ok()) << out.reason;
    EXPECT_EQ(out.key_id, "primary");
    EXPECT_EQ(out.token_id.size(), 32u);
    EXPECT_EQ(out.caveats.size(), 3u);
    EXPECT_TRUE(verify_token("Bearer " + token, login("cache", "writer", ""), keys, kFormat).ok());

    // Attenuation narrows without a key.
    auto narrowed = attenuate_token(
        token, {db_logins_caveat({"readonly"}), db_names_caveat({"shop"})}, kFormat);
    ASSERT_TRUE(narrowed.ok()) << narrowed.error().message;
    EXPECT_TRUE(verify_token(*narrowed, login(), keys, kFormat).ok());
    auto writer = verify_token(*narrowed, login("app", "writer"), keys, kFormat);
    EXPECT_EQ(writer.stage, Stage::Caveats);
    EXPECT_EQ(writer.reason,
              "caveat validation failed: login \"writer\" not in allowed list [\"readonly\"]");
    // The original still allows the writer: only the attenuated copy lost it.
    EXPECT_TRUE(verify_token(token, login("app", "writer"), keys, kFormat).ok());

    // "Widening" adds another restriction that must also hold.
    auto widened = attenuate_token(*narrowed, {db_services_caveat({"other"})}, kFormat);
    ASSERT_TRUE(widened.ok());
    EXPECT_EQ(verify_token(*widened, login("other"), keys, kFormat).stage, Stage::Caveats);
    EXPECT_EQ(verify_token(*widened, login("app"), keys, kFormat).stage, Stage::Caveats);

    // Dropping the last caveat breaks the signature; a wrong key is the signature stage.
    auto decoded = decode_token(*narrowed, kFormat);
    ASSERT_TRUE(decoded.ok());
    decoded->caveats.pop_back();
    EXPECT_EQ(verify_token(encode_token(*decoded, kFormat), login(), keys, kFormat).stage,
              Stage::Signature);
    KeyStore other;
    ASSERT_TRUE(other.add("primary", secrets::SecretValue(std::string(32, 'x'))).ok());
    EXPECT_EQ(verify_token(token, login(), other, kFormat).stage, Stage::Signature);
    EXPECT_EQ(verify_token(token + "x", login(), keys, kFormat).stage, Stage::Decode);
    EXPECT_EQ(verify_token("", login(), keys, kFormat).stage, Stage::Header);
}

TEST(TokenDbCaveats, AccessStage) {
    const KeyStore keys = test_keys();
    const std::string token = mint(keys, {});
    auto reason_of = [&](DbAccessRequest request) {
        const auto out = verify_token(token, request, keys, kFormat);
        return std::string(stage_name(out.stage)) + ": " + out.reason;
    };
    EXPECT_EQ(reason_of(login("")), "access: invalid access: database service is required");
    EXPECT_EQ(reason_of(login("app", "")), "access: invalid access: login is required");
    EXPECT_EQ(reason_of(login("app", "ro", "shop", "")),
              "access: invalid access: protocol is required");
    // No database name is a valid login (Redis, MySQL without one).
    EXPECT_EQ(reason_of(login("app", "ro", "")), "ok: ");
}

TEST(TokenDbCaveats, EachCaveatDeniesWithItsReason) {
    const KeyStore keys = test_keys();
    auto reason = [&](const std::vector<Caveat>& caveats, DbAccessRequest request) {
        const auto out = verify_token(mint(keys, caveats), request, keys, kFormat);
        EXPECT_EQ(out.ok() ? Stage::Caveats : out.stage, Stage::Caveats);
        return out.ok() ? std::string("allowed") : out.reason;
    };
    const std::string prefix = "caveat validation failed: ";

    EXPECT_EQ(reason({db_services_caveat({"app"})}, login()), "allowed");
    EXPECT_EQ(reason({db_services_caveat({"app"})}, login("cache")),
              prefix + "database \"cache\" not in allowed list [\"app\"]");
    // Exact comparison: no case folding.
    EXPECT_EQ(reason({db_services_caveat({"app"})}, login("App")),
              prefix + "database \"App\" not in allowed list [\"app\"]");

    EXPECT_EQ(reason({db_logins_caveat({"readonly"})}, login()), "allowed");
    EXPECT_EQ(reason({db_logins_caveat({"readonly"})}, login("app", "ReadOnly")),
              prefix + "login \"ReadOnly\" not in allowed list [\"readonly\"]");

    EXPECT_EQ(reason({db_names_caveat({"shop", "stats"})}, login("app", "ro", "stats")), "allowed");
    EXPECT_EQ(reason({db_names_caveat({"shop"})}, login("app", "ro", "postgres")),
              prefix + "database name \"postgres\" not in allowed list [\"shop\"]");
    // A login naming no database fails a DBName caveat, even one listing "".
    EXPECT_EQ(reason({db_names_caveat({"shop"})}, login("app", "ro", "")),
              prefix +
                  "login names no database, but the token is limited to database names "
                  "[\"shop\"]");
    EXPECT_EQ(reason({db_names_caveat({""})}, login("app", "ro", "")),
              prefix +
                  "login names no database, but the token is limited to database names "
                  "[\"\"]");

    // Nil and empty lists allow nothing.
    EXPECT_EQ(reason({DbServices{std::nullopt}}, login()),
              prefix + "database \"app\" not in allowed list nil");
    EXPECT_EQ(reason({DbLogins{List{}}}, login()),
              prefix + "login \"readonly\" not in allowed list []");

    // Several caveats: all denials are reported, in order; hostile bytes are escaped.
    EXPECT_EQ(reason({db_services_caveat({"a"}), db_logins_caveat({"b"}), db_names_caveat({"c"})},
                     login("app", "x\r\ny", "shop")),
              prefix +
                  "database \"app\" not in allowed list [\"a\"]; login \"x\\x0d\\x0ay\" not in "
                  "allowed list [\"b\"]; database name \"shop\" not in allowed list [\"c\"]");
    // Unknown caveat types still deny database logins.
    EXPECT_EQ(reason({UnknownCaveat{kCloakroomCaveatBase + 99, "\xc0"}}, login()),
              prefix + "bad caveat Unregistered (type 0x1434c0063)");
}

TEST(TokenDbCaveats, CommandsOnlyForRedis) {
    const KeyStore keys = test_keys();
    const std::string token =
        mint(keys, {db_services_caveat({"cache"}), db_commands_caveat({"get", "scan", "@read"})});
    const auto redis = verify_token(token, login("cache", "agent", "", "redis"), keys, kFormat);
    EXPECT_TRUE(redis.ok()) << redis.reason;
    EXPECT_EQ(command_lists(redis.caveats), (std::vector<List>{{"GET", "SCAN", "@read"}}));

    for (const std::string protocol : {"postgres", "mysql"}) {
        const auto out =
            verify_token(token, login("cache", "agent", "db", protocol), keys, kFormat);
        EXPECT_EQ(out.stage, Stage::Caveats);
        EXPECT_EQ(out.reason,
                  "caveat validation failed: token is limited to Redis commands "
                  "[\"GET\" \"SCAN\" \"@read\"], which cannot be enforced on a \"" +
                      protocol + "\" login (command limits only work for Redis)");
    }

    // Every list is returned in caveat order; nil comes back empty (allows no command).
    auto narrowed =
        attenuate_token(token, {db_commands_caveat({"GET"}), DbCommands{std::nullopt}}, kFormat);
    ASSERT_TRUE(narrowed.ok());
    const auto out = verify_token(*narrowed, login("cache", "agent", "", "redis"), keys, kFormat);
    ASSERT_TRUE(out.ok()) << out.reason;
    EXPECT_EQ(command_lists(out.caveats),
              (std::vector<List>{{"GET", "SCAN", "@read"}, {"GET"}, {}}));
    EXPECT_TRUE(command_lists({db_services_caveat({"x"}), validity_caveat(0, 1)}).empty());
}

TEST(TokenDbCaveats, ValidityWindowAppliesToLogins) {
    const KeyStore keys = test_keys();
    const std::string token =
        mint(keys, {db_services_caveat({"app"}), validity_caveat(1735689600, 1735693200)});
    EXPECT_TRUE(
        verify_token(token, login("app", "ro", "", "redis", 1735693200), keys, kFormat).ok());
    EXPECT_TRUE(
        verify_token(token, login("app", "ro", "", "redis", 1735689600), keys, kFormat).ok());
    const auto late =
        verify_token(token, login("app", "ro", "", "redis", 1735693201), keys, kFormat);
    EXPECT_EQ(late.stage, Stage::Caveats);
    EXPECT_EQ(late.reason, "caveat validation failed: token only valid until 2025-01-01T01:00:00Z");
    const auto early =
        verify_token(token, login("app", "ro", "", "redis", 1735689599), keys, kFormat);
    EXPECT_EQ(early.reason, "caveat validation failed: token not valid until 2025-01-01T00:00:00Z");
}

// ---- the cross-kind rule ----

TEST(TokenDbCaveats, DatabaseCaveatsDenyHttpRequests) {
    const KeyStore keys = test_keys();
    auto http_reason = [&](const std::vector<Caveat>& caveats) {
        const auto out = verify_token(mint(keys, caveats), http_get(), keys, kFormat);
        EXPECT_EQ(out.stage, Stage::Caveats);
        return out.reason;
    };
    const std::string prefix = "caveat validation failed: ";
    EXPECT_EQ(http_reason({db_services_caveat({"app"})}),
              prefix + "token is limited to databases [\"app\"]");
    EXPECT_EQ(http_reason({db_logins_caveat({"ro"})}),
              prefix + "token is limited to database logins [\"ro\"]");
    EXPECT_EQ(http_reason({db_names_caveat({"shop"})}),
              prefix + "token is limited to database names [\"shop\"]");
    EXPECT_EQ(http_reason({db_commands_caveat({"GET"})}),
              prefix + "token is limited to Redis commands [\"GET\"]");
    // Even next to HTTP caveats that allow the request.
    EXPECT_EQ(http_reason({hosts_caveat({"api.stripe.com"}), db_services_caveat({"app"})}),
              prefix + "token is limited to databases [\"app\"]");
    // An HTTP token attenuated towards databases can no longer make HTTP requests.
    const std::string http_token = mint(keys, {hosts_caveat({"api.stripe.com"})});
    ASSERT_TRUE(verify_token(http_token, http_get(), keys, kFormat).ok());
    auto to_db = attenuate_token(http_token, {db_services_caveat({"app"})}, kFormat);
    ASSERT_TRUE(to_db.ok());
    EXPECT_EQ(verify_token(*to_db, http_get(), keys, kFormat).stage, Stage::Caveats);
    EXPECT_EQ(verify_token(*to_db, login(), keys, kFormat).stage, Stage::Caveats);
}

TEST(TokenDbCaveats, HttpCaveatsDenyDatabaseLogins) {
    const KeyStore keys = test_keys();
    auto db_reason = [&](const std::vector<Caveat>& caveats) {
        const auto out = verify_token(mint(keys, caveats), login(), keys, kFormat);
        EXPECT_EQ(out.stage, Stage::Caveats);
        return out.reason;
    };
    const std::string prefix = "caveat validation failed: ";
    EXPECT_EQ(db_reason({hosts_caveat({"api.stripe.com"})}),
              prefix + "token is limited to HTTP hosts [\"api.stripe.com\"]");
    EXPECT_EQ(db_reason({methods_caveat({"GET"})}),
              prefix + "token is limited to HTTP methods [\"GET\"]");
    auto paths = paths_caveat({"/v1/**"});
    ASSERT_TRUE(paths.ok());
    EXPECT_EQ(db_reason({*paths}), prefix + "token is limited to HTTP paths [\"/v1/**\"]");
    EXPECT_EQ(db_reason({db_services_caveat({"app"}), hosts_caveat({"h"})}),
              prefix + "token is limited to HTTP hosts [\"h\"]");
}

TEST(TokenDbCaveats, UnrestrictedTokenAllowsBothKinds) {
    const KeyStore keys = test_keys();
    const std::string token = mint(keys, {validity_caveat(kNow - 10, kNow + 10)});
    EXPECT_TRUE(verify_token(token, http_get(), keys, kFormat).ok());
    EXPECT_TRUE(verify_token(token, login(), keys, kFormat).ok());
    EXPECT_TRUE(verify_token(token, login("cache", "agent", "", "redis"), keys, kFormat).ok());
}

TEST(TokenDbCaveats, EvaluateDirectly) {
    // Attestation allows; 3P and BindToParentToken never allow when evaluated.
    EXPECT_TRUE(evaluate_caveats({Attestation{"n"}}, login()).empty());
    EXPECT_EQ(evaluate_caveats({BindToParent{"x"}}, login()),
              (List{"bad caveat BindToParentToken (type 0xc)"}));
    EXPECT_EQ(evaluate_caveats({ThirdParty{"tp", "k", "t"}}, login()),
              (List{"bad caveat 3P (type 0xb)"}));
    EXPECT_EQ(evaluate_caveats({db_services_caveat({"app"}), db_logins_caveat({"readonly"}),
                                db_names_caveat({"shop"}), db_commands_caveat({"GET"})},
                               login("app", "readonly", "shop", "redis")),
              List{});
}

// ---- inspect ----

TEST(TokenDbCaveats, InspectIsReadable) {
    const KeyStore keys = test_keys();
    const std::string token =
        mint(keys, {db_services_caveat({"app"}), db_logins_caveat({"readonly"}),
                    DbNames{std::nullopt}, db_commands_caveat({"get", "@read"})});
    auto json = inspect_token(token, kFormat);
    ASSERT_TRUE(json.ok()) << json.error().message;
    const auto& caveats = (*json)["caveats"];
    ASSERT_EQ(caveats.size(), 4u);
    EXPECT_EQ(caveats[0], nlohmann::json::parse(R"({"type": 5424021505, "type_hex": "0x1434c0001",
                                        "name": "DBService", "body": {"services": ["app"]}})"));
    EXPECT_EQ(caveats[1]["name"], "DBLogin");
    EXPECT_EQ(caveats[1]["type_hex"], "0x1434c0002");
    EXPECT_EQ(caveats[1]["body"], nlohmann::json::parse(R"({"logins": ["readonly"]})"));
    EXPECT_EQ(caveats[2]["name"], "DBName");
    EXPECT_EQ(caveats[2]["body"], nlohmann::json::parse(R"({"names": null})"));
    EXPECT_EQ(caveats[3]["name"], "DBCommand");
    EXPECT_EQ(caveats[3]["type"], kTypeDbCommands);
    EXPECT_EQ(caveats[3]["body"], nlohmann::json::parse(R"({"commands": ["GET", "@read"]})"));
    // Invalid UTF-8 in a name still dumps.
    EXPECT_NO_THROW((void)caveat_json(db_names_caveat({"\xff"})).dump());
}

}  // namespace
}  // namespace cloakroom::token
