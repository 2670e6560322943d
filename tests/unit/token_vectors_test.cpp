// Every vector of tests/vectors/agent_creds_tokens.json (made by the reference Go code): bytes,
// HMAC chain, signature and every access check.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "token/chain.hpp"
#include "token/crypto.hpp"
#include "token/inspect.hpp"
#include "token/signature.hpp"
#include "token/third_party.hpp"
#include "token/token.hpp"
#include "util/base64.hpp"
#include "util/hex.hpp"

namespace cloakroom::token {
namespace {

using nlohmann::json;

const json& vectors() {
    static const json doc = [] {
        std::ifstream in(std::string(CLOAKROOM_VECTORS_DIR) + "/agent_creds_tokens.json");
        return json::parse(in);
    }();
    return doc;
}

std::string unhex(const json& value) {
    auto bytes = hex_decode(value.get<std::string>());
    EXPECT_TRUE(bytes.ok());
    return bytes.ok() ? *bytes : std::string();
}

std::string key_bytes(const char* field) {
    return *base64_decode(vectors()[field].get<std::string>());
}

KeyStore vector_keys() {
    KeyStore keys;
    EXPECT_TRUE(keys.add_base64("primary", vectors()["signing_key_b64"].get<std::string>()).ok());
    return keys;
}

TokenFormat vector_format() {
    return TokenFormat{"acm_", "agent-creds"};
}

std::vector<const json*> all_vectors() {
    std::vector<const json*> out;
    for (const auto& v : vectors()["vectors"]) out.push_back(&v);
    for (const auto& v : vectors()["quirk_vectors"]) out.push_back(&v);
    return out;
}

const json& find_vector(const std::string& name) {
    for (const json* v : all_vectors()) {
        if ((*v)["name"] == name) return *v;
    }
    static const json kNull;
    ADD_FAILURE() << "no vector " << name;
    return kNull;
}

bool is_noncanonical_quirk(const json& v) {
    return !v["canonical_wire_encoding"].get<bool>();
}

// ---- Where Cloakroom deliberately decides a check differently from agent-creds ----------------

enum class Why { RawPath, HostCase };

struct Deviation {
    const char* vector;
    std::size_t check;
    const char* expect;
    const char* stage;
    Why why;
    const char* because;
};

// Cloakroom matches path caveats against the normalized path without the query, and compares
// hosts case-insensitively (docs/tokens.md). Only checks whose outcome changes are listed.
const std::vector<Deviation>& deviations() {
    static const std::vector<Deviation> kTable = {
        {"host_single", 1, "ok", "ok", Why::HostCase,
         "DNS names are case-insensitive: API.STRIPE.COM is api.stripe.com"},
        {"path_exact", 3, "ok", "ok", Why::RawPath,
         "the query string is not part of the matched path: /v1/customers matches"},
        {"path_star_segments", 3, "error", "caveats", Why::RawPath,
         "'//' collapses to '/', so /repos/hello/pulls has too few segments for /repos/*/*/pulls"},
    };
    return kTable;
}

const Deviation* deviation_for(const std::string& vector, std::size_t check) {
    for (const auto& d : deviations()) {
        if (vector == d.vector && check == d.check) return &d;
    }
    return nullptr;
}

bool has_upper(const std::string& s) {
    for (char c : s) {
        if (c >= 'A' && c <= 'Z') return true;
    }
    return false;
}

TEST(TokenVectors, DeviationTableHasNoStaleEntries) {
    for (const auto& d : deviations()) {
        const json& v = find_vector(d.vector);
        ASSERT_LT(d.check, v["checks"].size()) << d.vector;
        const json& c = v["checks"][d.check];
        if (d.why == Why::RawPath) {
            EXPECT_TRUE(c.value("raw_path_semantics", false))
                << d.vector << " check " << d.check << " is not raw_path_semantics";
        } else {
            EXPECT_TRUE(has_upper(c["host"].get<std::string>()))
                << d.vector << " check " << d.check << " has no upper-case host";
        }
        // A listed check must really differ from agent-creds' result.
        EXPECT_TRUE(c["expect"] != d.expect || c["stage"] != d.stage)
            << d.vector << " check " << d.check << " does not deviate";
    }
}

// ---- Per-vector byte-level checks -------------------------------------------------------------

std::string wire_of(const std::string& token) {
    auto bytes = base64url_decode(std::string_view(token).substr(4));
    EXPECT_TRUE(bytes.ok()) << token;
    return bytes.ok() ? *bytes : std::string();
}

void check_caveat(const json& expected, const Caveat& actual, const std::string& where) {
    SCOPED_TRACE(where);
    EXPECT_EQ(caveat_type(actual), expected["type"].get<std::uint64_t>());
    EXPECT_EQ(caveat_type_name(caveat_type(actual)), expected["name"].get<std::string>());
    EXPECT_EQ(hex_encode(encode_caveat_body(actual)), expected["body_msgpack_hex"]);
    EXPECT_EQ(hex_encode(encode_caveat_hmac_input(actual)), expected["hmac_input_hex"]);
    const json body = caveat_json(actual)["body"];
    for (const auto& [field, value] : expected["body"].items()) {
        // Fields the vectors derive from known keys are checked separately.
        if (field == "verifier_key_plaintext_hex" || field == "verifier_key_sealed_with_tail_hex" ||
            field == "ticket_plaintext") {
            continue;
        }
        EXPECT_EQ(body[field], value) << field;
    }
    EXPECT_EQ(caveat_json(actual)["type_hex"], expected["type_hex"]);
}

void check_chain(const json& decoded, const Macaroon& m, const std::string& root_key) {
    const json& chain = decoded["hmac_chain"];
    EXPECT_EQ(hex_encode(root_key), chain["root_key_hex"]);
    const auto tails = compute_chain(root_key, m);
    ASSERT_EQ(tails.size(), chain["tail_after_each_caveat_hex"].size() + 1);
    EXPECT_EQ(hex_encode(tails[0]), chain["tail0_hex"]);
    for (std::size_t i = 1; i < tails.size(); ++i) {
        EXPECT_EQ(hex_encode(tails[i]), chain["tail_after_each_caveat_hex"][i - 1]) << i;
    }
    if (chain.contains("proof_finalized_tail_hex")) {
        EXPECT_EQ(hex_encode(finalize_proof(tails.back())), chain["proof_finalized_tail_hex"]);
    }
    EXPECT_EQ(crypto::equal(expected_tail(root_key, m), m.tail), chain["matches_tail"].get<bool>());
    if (chain.contains("binding_ids_hex")) {
        ASSERT_EQ(chain["binding_ids_hex"].size(), tails.size());
        for (std::size_t i = 0; i < tails.size(); ++i) {
            EXPECT_EQ(hex_encode(crypto::sha256(tails[i])), chain["binding_ids_hex"][i]);
        }
    }
    if (chain.contains("bind_to_this_token_id_hex")) {
        EXPECT_EQ(hex_encode(binding_for(m).binding_id), chain["bind_to_this_token_id_hex"]);
    }
}

// Checks one token's bytes and structure against its "decoded" object.
void check_decoded(const json& decoded, const std::string& wire, const Macaroon& m,
                   const std::string& root_key) {
    EXPECT_EQ(hex_encode(encode_macaroon(m)), hex_encode(wire));
    const json& nonce = decoded["nonce"];
    EXPECT_EQ(hex_encode(m.nonce.kid), nonce["kid_hex"]);
    EXPECT_EQ(hex_encode(m.nonce.rnd), nonce["rnd_hex"]);
    EXPECT_EQ(m.nonce.proof, nonce["proof"].get<bool>());
    EXPECT_EQ(m.nonce.legacy ? 2 : 3, nonce["fields"].get<int>());
    EXPECT_EQ(hex_encode(encode_nonce(m.nonce)), nonce["msgpack_hex"]);
    EXPECT_EQ(m.location, decoded["location"]);
    EXPECT_EQ(hex_encode(m.tail), decoded["tail_hex"]);
    EXPECT_TRUE(decoded["reencodes_identically"].get<bool>());
    const json inspected = macaroon_json(m);
    EXPECT_EQ(inspected["token_id"], nonce["rnd_hex"]);
    EXPECT_EQ(inspected["location"], decoded["location"]);
    ASSERT_EQ(m.caveats.size(), decoded["caveats"].size());
    for (std::size_t i = 0; i < m.caveats.size(); ++i) {
        check_caveat(decoded["caveats"][i], m.caveats[i], "caveat " + std::to_string(i));
    }
    check_chain(decoded, m, root_key);
}

// 3P caveats: the vectors know the discharge key, the tail it was sealed under and the ticket.
void check_third_party(const json& decoded, const Macaroon& m) {
    for (std::size_t i = 0; i < m.caveats.size(); ++i) {
        const auto* tp = std::get_if<ThirdParty>(&m.caveats[i]);
        if (tp == nullptr) continue;
        const json& body = decoded["caveats"][i]["body"];
        auto key = crypto::open(unhex(body["verifier_key_sealed_with_tail_hex"]), tp->verifier_key);
        ASSERT_TRUE(key.ok());
        EXPECT_EQ(hex_encode(*key), body["verifier_key_plaintext_hex"]);
        auto ticket = open_ticket(key_bytes("third_party_key_b64"), tp->ticket);
        ASSERT_TRUE(ticket.ok()) << ticket.error().message;
        const json& plain = body["ticket_plaintext"];
        EXPECT_EQ(hex_encode(ticket->discharge_key), plain["discharge_key_hex"]);
        ASSERT_EQ(ticket->caveats.size(), plain["caveats"].size());
        for (std::size_t k = 0; k < ticket->caveats.size(); ++k) {
            check_caveat(plain["caveats"][k], ticket->caveats[k], "ticket caveat");
        }
        auto raw = crypto::open(key_bytes("third_party_key_b64"), tp->ticket);
        ASSERT_TRUE(raw.ok());
        EXPECT_EQ(hex_encode(*raw), plain["plaintext_msgpack_hex"]);
    }
}

// The discharge root key of the discharge with this ticket, from the main token's 3P caveat.
std::string discharge_root_key(const json& v, const Macaroon& discharge) {
    for (const auto& c : v["decoded"]["caveats"]) {
        if (c["name"] == "3P" && unhex(c["body"]["ticket_hex"]) == discharge.nonce.kid) {
            return unhex(c["body"]["verifier_key_plaintext_hex"]);
        }
    }
    return {};
}

class AgentCredsVector : public ::testing::TestWithParam<std::string> {};

TEST_P(AgentCredsVector, BytesChainAndSignature) {
    const json& v = find_vector(GetParam());
    const TokenFormat format = vector_format();
    const std::string root_key = key_bytes(
        v["signed_with"] == "other_signing_key" ? "other_signing_key_b64" : "signing_key_b64");

    auto main = decode_token(v["main_token"].get<std::string>(), format);
    if (!v["decode_ok"].get<bool>()) {
        EXPECT_FALSE(main.ok());
        if (v.contains("msgpack_hex") && v["main_token"].get<std::string>().rfind("acm_", 0) == 0) {
            // The payload itself is broken (truncated) or wrongly encoded (std base64).
            auto bytes = base64url_decode(v["main_token"].get<std::string>().substr(4));
            if (bytes.ok()) {
                EXPECT_EQ(hex_encode(*bytes), v["msgpack_hex"]);
            }
        }
        return;
    }
    const std::string wire = wire_of(v["main_token"].get<std::string>());
    EXPECT_EQ(hex_encode(wire), v["msgpack_hex"]);

    if (is_noncanonical_quirk(v)) {
        // The reference accepts it (it HMACs its re-encoding); Cloakroom refuses the bytes.
        ASSERT_FALSE(main.ok());
        EXPECT_EQ(main.error().code, "token.decode");
        EXPECT_NE(main.error().message.find("non-canonical encoding"), std::string::npos)
            << main.error().message;
        return;
    }
    ASSERT_TRUE(main.ok()) << main.error().message;
    EXPECT_EQ(v["canonical_wire_encoding"].get<bool>(), encode_macaroon(*main) == wire);
    check_decoded(v["decoded"], wire, *main, root_key);
    check_third_party(v["decoded"], *main);

    std::vector<Macaroon> discharges;
    ASSERT_EQ(v["discharges"].size(), v["discharge_tokens"].size());
    for (std::size_t i = 0; i < v["discharges"].size(); ++i) {
        const json& d = v["discharges"][i];
        EXPECT_EQ(d["token"], v["discharge_tokens"][i]);
        auto dm = decode_token(d["token"].get<std::string>(), format);
        ASSERT_TRUE(dm.ok()) << dm.error().message;
        const std::string dwire = wire_of(d["token"].get<std::string>());
        EXPECT_EQ(hex_encode(dwire), d["msgpack_hex"]);
        const std::string dkey = discharge_root_key(v, *dm);
        if (!dkey.empty()) check_decoded(d["decoded"], dwire, *dm, dkey);
        discharges.push_back(std::move(*dm));
    }

    auto verified = verify_macaroon(key_bytes("signing_key_b64"), *main, discharges);
    EXPECT_EQ(verified.ok(), v["signature_valid"].get<bool>())
        << (verified.ok() ? "verified" : verified.error().message);
}

TEST_P(AgentCredsVector, Checks) {
    const json& v = find_vector(GetParam());
    const KeyStore keys = vector_keys();
    const TokenFormat format = vector_format();
    for (std::size_t i = 0; i < v["checks"].size(); ++i) {
        const json& c = v["checks"][i];
        const std::string header = c.value("header", v["token"].get<std::string>());
        const AccessRequest request{c["host"], c["method"], c["path"],
                                    c["time_unix"].get<std::int64_t>()};
        const VerifyOutcome out = verify_token(header, request, keys, format);
        std::string expect = c["expect"];
        std::string stage = c["stage"];
        if (is_noncanonical_quirk(v)) {
            // Reference: ok. Cloakroom refuses the non-canonical bytes (README §4.3).
            expect = "error";
            stage = "decode";
        } else if (const Deviation* d = deviation_for(v["name"], i)) {
            expect = d->expect;
            stage = d->stage;
        }
        SCOPED_TRACE(v["name"].get<std::string>() + " check " + std::to_string(i) + " (" +
                     c["host"].get<std::string>() + " " + c["method"].get<std::string>() + " " +
                     c["path"].get<std::string>() +
                     "), reference reason: " + c["reason"].get<std::string>());
        EXPECT_EQ(out.ok() ? "ok" : "error", expect) << out.reason;
        EXPECT_EQ(stage_name(out.stage), stage) << out.reason;
        if (!out.ok()) {
            EXPECT_FALSE(out.reason.empty());
        }
        const bool main_first =
            header.find(v["main_token"].get<std::string>()) != std::string::npos &&
            header.find(v["main_token"].get<std::string>()) < 16;
        if (main_first &&
            (out.stage == Stage::Signature || out.stage == Stage::Caveats || out.ok())) {
            EXPECT_EQ(out.token_id, v["decoded"]["nonce"]["rnd_hex"]);
        }
    }
}

std::vector<std::string> vector_names() {
    std::vector<std::string> names;
    for (const json* v : all_vectors()) names.push_back((*v)["name"]);
    return names;
}

INSTANTIATE_TEST_SUITE_P(All, AgentCredsVector, ::testing::ValuesIn(vector_names()),
                         [](const auto& param_info) { return param_info.param; });

TEST(TokenVectors, CountsMatchTheReadme) {
    EXPECT_EQ(vectors()["vectors"].size(), 48u);
    EXPECT_EQ(vectors()["quirk_vectors"].size(), 2u);
    std::size_t checks = 0;
    for (const json* v : all_vectors()) checks += (*v)["checks"].size();
    EXPECT_EQ(checks, 147u);
}

TEST(TokenVectors, PathGlobsCompileInCloakroom) {
    for (const auto& entry : vectors()["path_glob_to_regex"]) {
        EXPECT_TRUE(paths_caveat({entry["pattern"].get<std::string>()}).ok()) << entry["pattern"];
    }
}

}  // namespace
}  // namespace cloakroom::token
