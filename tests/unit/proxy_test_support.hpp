// Shared fixtures for the proxy unit tests: a small configuration, requests, tokens.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/verb.hpp>

#include "config/model.hpp"
#include "http/head.hpp"
#include "policy/path_pattern.hpp"
#include "secrets/secret_ref.hpp"
#include "token/token.hpp"

namespace cloakroom::proxy {
namespace bhttp = boost::beast::http;
}  // namespace cloakroom::proxy

namespace cloakroom::proxy::test {

inline constexpr std::int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z

inline secrets::SecretRef secret_ref(std::string_view text) {
    auto parsed = secrets::parse_secret_ref(text);
    EXPECT_TRUE(parsed.ok()) << text;
    return parsed.ok() ? *parsed : secrets::SecretRef{};
}

inline policy::Rule rule(std::vector<std::string> methods, std::vector<std::string> paths) {
    policy::Rule r;
    r.methods = std::move(methods);
    for (const auto& p : paths) {
        auto pattern = policy::PathPattern::compile(p);
        EXPECT_TRUE(pattern.ok()) << p;
        if (pattern.ok()) r.paths.push_back(*pattern);
    }
    return r;
}

inline config::Credential bearer(std::string secret = "env:CLOAKROOM_TEST_SECRET") {
    config::Credential c;
    c.type = config::CredentialType::Bearer;
    c.secret = secret_ref(secret);
    return c;
}

// stripe: bearer credential, GET/POST under /v1 allowed, DELETE denied.
// git: basic credential on git.example.com:8443 only.
// anthropic: x-api-key header credential. maps: query credential. docs: no credential.
inline config::Config sample_config() {
    config::Config config;
    config::Service stripe;
    stripe.name = "stripe";
    stripe.hosts = {"api.stripe.com"};
    stripe.credential = bearer();
    stripe.rules.allow.push_back(rule({"GET", "POST"}, {"/v1/**"}));
    stripe.rules.deny.push_back(rule({"DELETE"}, {}));
    config.services.push_back(stripe);

    config::Service git;
    git.name = "git";
    git.hosts = {"git.example.com:8443"};
    config::Credential basic;
    basic.type = config::CredentialType::Basic;
    basic.username = "git";
    basic.secret = secret_ref("env:CLOAKROOM_TEST_SECRET");
    git.credential = basic;
    config.services.push_back(git);

    config::Service anthropic;
    anthropic.name = "anthropic";
    anthropic.hosts = {"api.anthropic.com"};
    config::Credential header;
    header.type = config::CredentialType::Header;
    header.header = "x-api-key";
    header.secret = secret_ref("env:CLOAKROOM_TEST_SECRET");
    anthropic.credential = header;
    config.services.push_back(anthropic);

    config::Service maps;
    maps.name = "maps";
    maps.hosts = {"maps.example.com"};
    config::Credential query;
    query.type = config::CredentialType::Query;
    query.param = "key";
    query.secret = secret_ref("env:CLOAKROOM_TEST_SECRET");
    maps.credential = query;
    config.services.push_back(maps);

    config::Service docs;
    docs.name = "docs";
    docs.hosts = {"docs.example.com", "[::1]:8080"};
    config.services.push_back(docs);

    config.allowed_hosts = {"pypi.org", "files.example.com:8443", "[2001:db8::1]"};
    return config;
}

// A request head as the proxy holds it after reading one: parsed from its bytes.
inline http::Head request(bhttp::verb method, std::string_view target,
                          std::vector<std::pair<std::string, std::string>> fields = {}) {
    std::string text =
        std::string(bhttp::to_string(method)) + " " + std::string(target) + " HTTP/1.1\r\n";
    for (const auto& [name, value] : fields) text += name + ": " + value + "\r\n";
    text += "\r\n";
    http::Head head;
    EXPECT_TRUE(head.parse_request(text)) << text;
    return head;
}

inline token::KeyStore test_keys() {
    token::KeyStore keys;
    EXPECT_TRUE(keys.add("primary", secrets::SecretValue(std::string(32, 'k'))).ok());
    return keys;
}

inline std::string mint(const token::KeyStore& keys, const std::vector<token::Caveat>& caveats) {
    auto token = token::mint_token(keys, "primary", caveats, token::TokenFormat{});
    EXPECT_TRUE(token.ok()) << (token.ok() ? "" : token.error().message);
    return token.ok() ? *token : std::string();
}

// The same for a message Cloakroom writes with Beast (error responses).
template <bool IsRequest>
std::string all_fields(const bhttp::header<IsRequest>& h) {
    std::string out;
    for (const auto& field : h) {
        out += std::string(field.name_string()) + ": " + std::string(field.value()) + "\n";
    }
    return out;
}

// Every header field of a head, joined: for "is X anywhere in it" checks.
inline std::string all_fields(const http::Head& h) {
    std::string out;
    for (const auto& field : h.fields()) {
        out += std::string(field.name) + ": " + std::string(field.value) + "\n";
    }
    return out;
}

}  // namespace cloakroom::proxy::test
