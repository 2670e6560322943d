#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "db/postgres/pg_protocol.hpp"
#include "db/postgres/pg_scram.hpp"
#include "db/postgres/pg_upstream_auth.hpp"
#include "util/base64.hpp"

namespace cloakroom::db::postgres {
namespace {

using namespace std::string_literals;

// RFC 7677 section 3.
constexpr std::string_view kRfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

TEST(PgMd5, KnownValue) {
    // python3: u=b'app_md5'; p=b'md5-secret'; salt=bytes([1,2,3,4])
    //   h = hashlib.md5(p + u).hexdigest().encode()
    //   'md5' + hashlib.md5(h + salt).hexdigest()  → 'md55be5fda7590a1d56ede1b20fb4923813'
    EXPECT_EQ(md5_password_response("app_md5", "md5-secret", "\x01\x02\x03\x04"),
              "md55be5fda7590a1d56ede1b20fb4923813");
}

TEST(PgScram, Rfc7677Vector) {
    ScramClient client("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    EXPECT_EQ(client.mechanism(), "SCRAM-SHA-256");
    EXPECT_EQ(client.client_first(), kRfcClientFirst);
    auto final_message = client.client_final(kRfcServerFirst);
    ASSERT_TRUE(final_message.ok()) << final_message.error().message;
    EXPECT_EQ(*final_message, kRfcClientFinal);
    EXPECT_TRUE(client.verify_server_final(kRfcServerFinal).ok());
}

TEST(PgScram, RejectsWrongServerSignature) {
    ScramClient client("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    ASSERT_TRUE(client.client_final(kRfcServerFirst).ok());
    // One bit flipped in the signature.
    auto wrong = client.verify_server_final("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    ASSERT_FALSE(wrong.ok());
    EXPECT_NE(wrong.error().message.find("signature is wrong"), std::string::npos);
    // A server that does not know the password computes a different signature.
    ScramClient other("user", "not-pencil", "rOprNGfwEbeRWgbNEkqO");
    ASSERT_TRUE(other.client_final(kRfcServerFirst).ok());
    EXPECT_FALSE(other.verify_server_final(kRfcServerFinal).ok());
    // Errors and malformed finals.
    auto e = client.verify_server_final("e=invalid-proof");
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.error().message.find("invalid-proof"), std::string::npos);
    EXPECT_FALSE(client.verify_server_final("").ok());
    EXPECT_FALSE(client.verify_server_final("v=").ok());
    EXPECT_FALSE(client.verify_server_final("v=AAAA").ok());
    EXPECT_FALSE(client.verify_server_final("x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").ok());
    // Before client_final there is nothing to verify against.
    ScramClient fresh("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    EXPECT_FALSE(fresh.verify_server_final(kRfcServerFinal).ok());
}

TEST(PgScram, ServerFirstValidation) {
    ScramClient client("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    // Nonce that does not extend ours, or equals it.
    EXPECT_FALSE(
        client.client_final("r=XXXXNGfwEbeRWgbNEkqO123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096").ok());
    EXPECT_FALSE(
        client.client_final("r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096").ok());
    const char* bad[] = {
        "",
        "r=abc",
        "m=ext,r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=abc,i=4096",
        "r=abc,s=,i=4096",
        "r=abc,s=!!!,i=4096",
        "r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
        "r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
        "r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x",
        "r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999",
        "r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001",
        "r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",
        "r=a\x01"
        "bc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    };
    for (const char* message : bad) {
        EXPECT_FALSE(parse_scram_server_first(message).ok()) << message;
    }
    auto ok = parse_scram_server_first("r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=ext");
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->nonce, "abc");
    EXPECT_EQ(ok->iterations, 4096u);
    EXPECT_EQ(ok->salt.size(), 16u);
}

TEST(PgScram, NonceAndBindingHeaders) {
    auto nonce = make_scram_nonce();
    ASSERT_TRUE(nonce.ok());
    EXPECT_EQ(nonce->size(), 24u);
    EXPECT_NE(*nonce, *make_scram_nonce());
    EXPECT_EQ(nonce->find(','), std::string::npos);

    ScramClient y("", "pw", "abc", ScramClient::Binding::NotAdvertised);
    EXPECT_EQ(y.client_first(), "y,,n=,r=abc");
    ScramClient p("a=b,c", "pw", "abc", ScramClient::Binding::ServerEndPoint, "HASH");
    EXPECT_EQ(p.mechanism(), "SCRAM-SHA-256-PLUS");
    EXPECT_EQ(p.client_first(), "p=tls-server-end-point,,n=a=3Db=2Cc,r=abc");
    auto final_message = p.client_final("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1");
    ASSERT_TRUE(final_message.ok());
    EXPECT_TRUE(final_message->starts_with("c=" + base64_encode("p=tls-server-end-point,,HASH") +
                                           ",r=abcdef,p="));
}

// ---- UpstreamAuth against a minimal SCRAM server (RFC 5802 server side) ----

std::string hmac256(std::string_view key, std::string_view data) {
    unsigned char out[32];
    unsigned int size = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &size);
    return std::string(reinterpret_cast<char*>(out), size);
}

std::string sha256(std::string_view data) {
    unsigned char out[32];
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), out, &size, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char*>(out), size);
}

struct TestScramServer {
    explicit TestScramServer(std::string pw) : password(std::move(pw)) {}

    std::string password;
    std::string salt = "0123456789abcdef";
    int iterations = 64;
    std::string expected_c;  // base64 of gs2 header (+ binding data)
    std::string client_first_bare;
    std::string server_first;

    std::string salted() const {
        unsigned char out[32];
        PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(salt.data()),
                          static_cast<int>(salt.size()), iterations, EVP_sha256(), 32, out);
        return std::string(reinterpret_cast<char*>(out), 32);
    }

    // SASLInitialResponse message → server-first.
    std::string first(std::string_view message, std::string_view expect_mechanism) {
        auto frame = take_frame(message, 10000, "client");
        EXPECT_TRUE(frame.ok() && frame->has_value());
        std::string_view body = (*frame)->body;
        const auto nul = body.find('\0');
        EXPECT_EQ(body.substr(0, nul), expect_mechanism);
        std::string data(body.substr(nul + 5));
        const auto bare = data.find("n=");
        client_first_bare = data.substr(bare);
        const auto r = client_first_bare.find(",r=");
        server_first = "r=" + client_first_bare.substr(r + 3) +
                       "SERVERNONCE,s=" + base64_encode(salt) + ",i=" + std::to_string(iterations);
        return server_first;
    }

    // SASLResponse message → server-final, or "" when the proof is wrong.
    std::string final_(std::string_view message) {
        auto frame = take_frame(message, 10000, "client");
        EXPECT_TRUE(frame.ok() && frame->has_value());
        const std::string data((*frame)->body);
        const auto p = data.rfind(",p=");
        const std::string without_proof = data.substr(0, p);
        EXPECT_TRUE(without_proof.starts_with("c=" + expected_c + ",")) << without_proof;
        const std::string auth_message =
            client_first_bare + "," + server_first + "," + without_proof;
        const std::string s = salted();
        const std::string stored = sha256(hmac256(s, "Client Key"));
        const std::string signature = hmac256(stored, auth_message);
        auto proof = base64_decode(data.substr(p + 3));
        EXPECT_TRUE(proof.ok());
        std::string client_key = *proof;
        for (std::size_t i = 0; i < client_key.size(); ++i) client_key[i] ^= signature[i];
        if (sha256(client_key) != stored) return "";
        return "v=" + base64_encode(hmac256(hmac256(s, "Server Key"), auth_message));
    }
};

AuthRequest request(std::uint32_t code, std::string_view data = {}) {
    return {code, data};
}

TEST(PgUpstreamAuth, Trust) {
    UpstreamAuth auth({"app", std::nullopt, false, std::nullopt, ""});
    auto r = auth.on_request(request(kAuthOk));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, "");
    EXPECT_TRUE(auth.authenticated());
    EXPECT_EQ(auth.method(), "trust");
    EXPECT_FALSE(auth.on_request(request(kAuthOk)).ok());
}

TEST(PgUpstreamAuth, CleartextAndMd5) {
    UpstreamAuth clear({"app", "s3cret", false, std::nullopt, ""});
    auto r = clear.on_request(request(kAuthCleartextPassword));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, build_password_message("s3cret"));
    EXPECT_FALSE(clear.authenticated());
    EXPECT_TRUE(clear.on_request(request(kAuthOk)).ok());
    EXPECT_TRUE(clear.authenticated());

    UpstreamAuth md5({"app_md5", "md5-secret", false, std::nullopt, ""});
    auto m = md5.on_request(request(kAuthMd5Password, "\x01\x02\x03\x04"));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(*m, build_password_message("md55be5fda7590a1d56ede1b20fb4923813"));
    EXPECT_EQ(md5.method(), "md5");
    EXPECT_FALSE(md5.on_request(request(kAuthMd5Password, "abcd")).ok());  // asked twice

    UpstreamAuth none({"app", std::nullopt, false, std::nullopt, ""});
    auto n = none.on_request(request(kAuthCleartextPassword));
    ASSERT_FALSE(n.ok());
    EXPECT_NE(n.error().message.find("none configured"), std::string::npos);
}

TEST(PgUpstreamAuth, UnsupportedMethods) {
    for (std::uint32_t code : {2u, 6u, 7u, 9u, 42u}) {
        UpstreamAuth auth({"app", "pw", false, std::nullopt, ""});
        auto r = auth.on_request(request(code));
        ASSERT_FALSE(r.ok()) << code;
        EXPECT_EQ(r.error().code, kUpstreamAuthError);
        EXPECT_NE(r.error().message.find("does not support"), std::string::npos);
    }
    UpstreamAuth auth({"app", "pw", false, std::nullopt, ""});
    EXPECT_FALSE(auth.on_request(request(kAuthSaslContinue, "r=x")).ok());
    UpstreamAuth final_first({"app", "pw", false, std::nullopt, ""});
    EXPECT_FALSE(final_first.on_request(request(kAuthSaslFinal, "v=x")).ok());
}

void run_scram(bool tls, std::optional<std::string> binding, std::string_view mechanisms,
               std::string_view expect_mechanism, std::string expected_c) {
    TestScramServer server("correct horse");
    server.expected_c = std::move(expected_c);
    UpstreamAuth auth({"app", "correct horse", tls, binding, ""});
    auto first = auth.on_request(request(kAuthSasl, mechanisms));
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(auth.method(), expect_mechanism);
    const std::string server_first = server.first(*first, expect_mechanism);
    auto second = auth.on_request(request(kAuthSaslContinue, server_first));
    ASSERT_TRUE(second.ok()) << second.error().message;
    const std::string server_final = server.final_(*second);
    ASSERT_FALSE(server_final.empty()) << "the test server rejected the proof";
    // AuthenticationOk before SASLFinal must not be accepted.
    EXPECT_FALSE(auth.authenticated());
    auto done = auth.on_request(request(kAuthSaslFinal, server_final));
    ASSERT_TRUE(done.ok()) << done.error().message;
    EXPECT_EQ(*done, "");
    ASSERT_TRUE(auth.on_request(request(kAuthOk)).ok());
    EXPECT_TRUE(auth.authenticated());
}

TEST(PgUpstreamAuth, ScramPlain) {
    run_scram(false, std::nullopt, "SCRAM-SHA-256\0\0"s, "SCRAM-SHA-256", base64_encode("n,,"));
    // Not on TLS: PLUS is ignored even when offered.
    run_scram(false, std::nullopt, "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s, "SCRAM-SHA-256",
              base64_encode("n,,"));
    // On TLS, the server did not offer PLUS: "y".
    run_scram(true, std::string("HASH"), "SCRAM-SHA-256\0\0"s, "SCRAM-SHA-256",
              base64_encode("y,,"));
    // On TLS without usable binding data: plain with "n".
    run_scram(true, std::nullopt, "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s, "SCRAM-SHA-256",
              base64_encode("n,,"));
}

TEST(PgUpstreamAuth, ScramPlus) {
    run_scram(true, std::string("CERTHASH"), "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s,
              "SCRAM-SHA-256-PLUS", base64_encode("p=tls-server-end-point,,CERTHASH"));
}

TEST(PgUpstreamAuth, ScramFailures) {
    {  // Only PLUS without TLS.
        UpstreamAuth auth({"app", "pw", false, std::nullopt, ""});
        auto r = auth.on_request(request(kAuthSasl, "SCRAM-SHA-256-PLUS\0\0"s));
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message.find("needs TLS"), std::string::npos);
    }
    {  // Unknown mechanisms.
        UpstreamAuth auth({"app", "pw", false, std::nullopt, ""});
        auto r = auth.on_request(request(kAuthSasl, "OAUTHBEARER\0\0"s));
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message.find("OAUTHBEARER"), std::string::npos);
    }
    {  // Server skips SASLFinal and says OK: refused (no mutual authentication).
        TestScramServer server("pw");
        UpstreamAuth auth({"app", "pw", false, std::nullopt, ""});
        auto first = auth.on_request(request(kAuthSasl, "SCRAM-SHA-256\0\0"s));
        ASSERT_TRUE(first.ok());
        const auto server_first = server.first(*first, "SCRAM-SHA-256");
        ASSERT_TRUE(auth.on_request(request(kAuthSaslContinue, server_first)).ok());
        auto ok = auth.on_request(request(kAuthOk));
        ASSERT_FALSE(ok.ok());
        EXPECT_NE(ok.error().message.find("without proving"), std::string::npos);
        EXPECT_FALSE(auth.authenticated());
    }
    {  // A server that does not know the password: its signature is refused.
        TestScramServer impostor("other password");
        impostor.expected_c = base64_encode("n,,");
        UpstreamAuth auth({"app", "pw", false, std::nullopt, ""});
        auto first = auth.on_request(request(kAuthSasl, "SCRAM-SHA-256\0\0"s));
        const auto server_first = impostor.first(*first, "SCRAM-SHA-256");
        auto second = auth.on_request(request(kAuthSaslContinue, server_first));
        ASSERT_TRUE(second.ok());
        // The impostor cannot check the proof either; it answers with a signature of its own.
        const std::string forged =
            "v=" + base64_encode(hmac256(hmac256(impostor.salted(), "Server Key"), "x"));
        auto r = auth.on_request(request(kAuthSaslFinal, forged));
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message.find("signature is wrong"), std::string::npos);
        EXPECT_FALSE(auth.on_request(request(kAuthOk)).ok());
    }
}

}  // namespace
}  // namespace cloakroom::db::postgres
