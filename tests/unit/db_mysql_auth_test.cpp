// MySQL authentication cryptography (src/db/mysql/auth_crypto.hpp, rsa_key.hpp).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "db/mysql/auth_crypto.hpp"
#include "db/mysql/rsa_key.hpp"
#include "util/hex.hpp"

namespace cloakroom::db::mysql {
namespace {

using namespace std::string_literals;

constexpr std::string_view kNonce = "abcdefghijklmnopqrst";

const RsaKey& test_key() {
    static const std::shared_ptr<const RsaKey> key = [] {
        auto made = generate_rsa_key(2048);
        EXPECT_TRUE(made.ok());
        return *made;
    }();
    return *key;
}

TEST(MysqlScramble, NativePasswordKnownValue) {
    // python3: s1=sha1(b"secret"); s2=sha1(s1); m=sha1(b"abcdefghijklmnopqrst"+s2); s1 XOR m
    EXPECT_EQ(hex_encode(native_password_scramble("secret", kNonce)),
              "8817c50fa779daef010ee7577825b0847df9842e");
    // A 21-byte nonce with its NUL is cut to 20.
    EXPECT_EQ(native_password_scramble("secret", std::string(kNonce) + '\0'),
              native_password_scramble("secret", kNonce));
    EXPECT_EQ(native_password_scramble("", kNonce), "");
}

TEST(MysqlScramble, CachingSha2KnownValues) {
    // python3: d1=sha256(pw); d2=sha256(d1); d3=sha256(d2+nonce); d1 XOR d3
    EXPECT_EQ(hex_encode(caching_sha2_scramble("secret", kNonce)),
              "c76e2898612a4cf042c77fa8c4702c4c64c0c2c557c53c4d75595aaa6abae809");
    // What libmariadb and PyMySQL sent for "SECRETTOK" (see db_mysql_messages_test).
    EXPECT_EQ(hex_encode(caching_sha2_scramble("SECRETTOK", kNonce)),
              "3a1ebe0acda628d2ee070fe28724f62ec9714a85dc0da6aeb723500146b39f46");
    EXPECT_EQ(caching_sha2_scramble("", kNonce), "");
}

TEST(MysqlScramble, XorRepeatsTheNonce) {
    const std::string data(45, 'x');
    const std::string mixed = xor_with_nonce(data, kNonce);
    ASSERT_EQ(mixed.size(), 45u);
    EXPECT_EQ(mixed[0], static_cast<char>('x' ^ 'a'));
    EXPECT_EQ(mixed[20], static_cast<char>('x' ^ 'a'));
    EXPECT_EQ(mixed[44], static_cast<char>('x' ^ 'e'));
    EXPECT_EQ(xor_with_nonce(mixed, kNonce), data);
    EXPECT_EQ(xor_with_nonce("abc", ""), "abc");
}

TEST(MysqlNonce, TwentyPrintableSafeBytes) {
    std::set<std::string> seen;
    for (int i = 0; i < 50; ++i) {
        const std::string nonce = make_nonce();
        ASSERT_EQ(nonce.size(), kNonceSize);
        for (char c : nonce) {
            EXPECT_NE(c, '\0');
            EXPECT_NE(c, '$');
            EXPECT_LT(static_cast<unsigned char>(c), 128);
        }
        seen.insert(nonce);
    }
    EXPECT_EQ(seen.size(), 50u);
}

TEST(MysqlRsa, EncryptDecryptRoundTrip) {
    const RsaKey& key = test_key();
    EXPECT_EQ(key.public_pem.rfind("-----BEGIN PUBLIC KEY-----\n", 0), 0u);
    const std::string token = "acm_" + std::string(150, 'T');
    auto encrypted = rsa_encrypt_password(key.public_pem, token, kNonce);
    ASSERT_TRUE(encrypted.ok()) << encrypted.error().message;
    EXPECT_EQ(encrypted->size(), 256u);
    EXPECT_EQ(encrypted->find(token), std::string::npos);
    auto decrypted = rsa_decrypt_password(key.key.get(), *encrypted, kNonce);
    ASSERT_TRUE(decrypted.ok()) << decrypted.error().message;
    EXPECT_EQ(decrypted->reveal(), token);
    // OAEP is randomized.
    EXPECT_NE(*rsa_encrypt_password(key.public_pem, token, kNonce), *encrypted);
    // The wrong nonce gives the wrong password.
    auto wrong = rsa_decrypt_password(key.key.get(), *encrypted, "ABCDEFGHIJKLMNOPQRST");
    ASSERT_TRUE(wrong.ok());
    EXPECT_NE(wrong->reveal(), token);
}

TEST(MysqlRsa, RejectsBadInput) {
    const RsaKey& key = test_key();
    // 2048-bit OAEP-SHA1 carries at most 214 bytes (password + NUL).
    auto too_long = rsa_encrypt_password(key.public_pem, std::string(214, 'x'), kNonce);
    ASSERT_FALSE(too_long.ok());
    EXPECT_EQ(too_long.error().code, "mysql.rsa");
    EXPECT_TRUE(rsa_encrypt_password(key.public_pem, std::string(213, 'x'), kNonce).ok());
    EXPECT_FALSE(rsa_encrypt_password("not a key", "pw", kNonce).ok());
    EXPECT_FALSE(rsa_encrypt_password("", "pw", kNonce).ok());

    auto short_ct = rsa_decrypt_password(key.key.get(), "short", kNonce);
    ASSERT_FALSE(short_ct.ok());
    EXPECT_NE(short_ct.error().message.find("256"), std::string::npos);
    auto garbage = rsa_decrypt_password(key.key.get(), std::string(256, '\x5a'), kNonce);
    ASSERT_FALSE(garbage.ok());
    EXPECT_EQ(garbage.error().code, "mysql.rsa");
    EXPECT_FALSE(rsa_decrypt_password(nullptr, std::string(256, 'a'), kNonce).ok());
}

TEST(MysqlRsa, ProcessKeyIsMadeOnceAndFitsLongTokens) {
    auto first = process_rsa_key();
    ASSERT_TRUE(first.ok()) << first.error().message;
    auto second = process_rsa_key();
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(first->get(), second->get());
    EXPECT_EQ(EVP_PKEY_get_bits((*first)->key.get()), kProcessKeyBits);
    const std::string token = "acm_" + std::string(460, 'L');
    auto encrypted = rsa_encrypt_password((*first)->public_pem, token, kNonce);
    ASSERT_TRUE(encrypted.ok()) << encrypted.error().message;
    auto decrypted = rsa_decrypt_password((*first)->key.get(), *encrypted, kNonce);
    ASSERT_TRUE(decrypted.ok());
    EXPECT_EQ(decrypted->reveal(), token);
}

TEST(MysqlSecretBytes, MovesLeaveNothingBehind) {
    SecretBytes a(std::string(40, 's'));
    SecretBytes b(std::move(a));
    EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the point of the test
    EXPECT_EQ(b.reveal(), std::string(40, 's'));
    SecretBytes c;
    c = std::move(b);
    EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(c.reveal().size(), 40u);
}

}  // namespace
}  // namespace cloakroom::db::mysql
