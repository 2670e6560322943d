// Token verification as the gateway does it per request (token::verify_token: header split,
// base64url + msgpack decode, HMAC chain, caveat evaluation against the normalized path).
// The plain benchmarks verify without a cache (every request pays the full cost): "same token"
// is the warm-CPU-cache case, "distinct tokens" the cold one (a pool larger than the caches).
// The "Cached" ones pass a token::VerifyCache as the gateway does (one per runtime snapshot):
// after the first round only the caveats are evaluated.
#include <benchmark/benchmark.h>

#include <ctime>
#include <string>
#include <vector>

#include "token/token.hpp"
#include "token/verify_cache.hpp"

namespace {

using namespace cloakroom;

constexpr const char* kKeyB64 = "Y2FuYXJ5LXNpZ25pbmcta2V5LTAxMjM0NTY3ODlhYmNkZWYh";  // 36 bytes

struct Tokens {
    token::KeyStore keys;
    token::TokenFormat format;
    token::AccessRequest request;
    std::vector<std::string> headers;  // "Bearer acm_..."

    // `count` tokens under the same key (each with its own random nonce); `extra` attenuation
    // rounds add caveats the way an agent narrowing its token would.
    Tokens(std::size_t count, int extra) {
        if (!keys.add_base64("primary", kKeyB64).ok()) std::abort();
        const auto now = static_cast<std::int64_t>(std::time(nullptr));
        request = token::AccessRequest{"api.example.com", "GET", "/v1/charges/ch_123", now};
        std::vector<token::Caveat> caveats{
            token::hosts_caveat({"api.example.com"}),
            token::methods_caveat({"GET", "POST"}),
            token::validity_caveat(now - 60, now + 3600),
        };
        auto paths = token::paths_caveat({"/v1/charges/**", "/v1/customers/*"});
        if (!paths.ok()) std::abort();
        caveats.push_back(*paths);
        for (std::size_t i = 0; i < count; ++i) {
            auto minted = token::mint_token(keys, "primary", caveats, format);
            if (!minted.ok()) std::abort();
            std::string text = *minted;
            for (int e = 0; e < extra; ++e) {
                auto narrower = token::attenuate_token(
                    text,
                    {token::methods_caveat({"GET"}), token::validity_caveat(now - 30, now + 1800)},
                    format);
                if (!narrower.ok()) std::abort();
                text = *narrower;
            }
            headers.push_back("Bearer " + text);
        }
        auto check = token::verify_token(headers.front(), request, keys, format);
        if (!check.ok()) std::abort();
    }
};

void BM_TokenVerify_SameToken(benchmark::State& state) {
    Tokens t(1, static_cast<int>(state.range(0)));
    for (auto _ : state) {
        auto outcome = token::verify_token(t.headers[0], t.request, t.keys, t.format);
        if (!outcome.ok()) state.SkipWithError("verify failed");
        benchmark::DoNotOptimize(outcome);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::to_string(t.headers[0].size()) + " B header");
}
BENCHMARK(BM_TokenVerify_SameToken)->Arg(0)->Arg(2)->ArgName("attenuations");

void BM_TokenVerify_DistinctTokens(benchmark::State& state) {
    Tokens t(4096, 0);
    std::size_t i = 0;
    for (auto _ : state) {
        auto outcome = token::verify_token(t.headers[i], t.request, t.keys, t.format);
        if (!outcome.ok()) state.SkipWithError("verify failed");
        benchmark::DoNotOptimize(outcome);
        i = (i + 1) & 4095;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TokenVerify_DistinctTokens);

void BM_TokenVerify_Cached_SameToken(benchmark::State& state) {
    Tokens t(1, static_cast<int>(state.range(0)));
    token::VerifyCache cache;
    for (auto _ : state) {
        auto outcome = token::verify_token(t.headers[0], t.request, t.keys, t.format, &cache);
        if (!outcome.ok()) state.SkipWithError("verify failed");
        benchmark::DoNotOptimize(outcome);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::to_string(t.headers[0].size()) + " B header");
}
BENCHMARK(BM_TokenVerify_Cached_SameToken)->Arg(0)->Arg(2)->ArgName("attenuations");

// 4096 distinct tokens, all fitting the default cache (10,000 entries): steady-state hits on a
// cache that holds thousands of entries.
void BM_TokenVerify_Cached_DistinctTokens(benchmark::State& state) {
    Tokens t(4096, 0);
    token::VerifyCache cache;
    for (const auto& header : t.headers) {
        if (!token::verify_token(header, t.request, t.keys, t.format, &cache).ok()) std::abort();
    }
    std::size_t i = 0;
    for (auto _ : state) {
        auto outcome = token::verify_token(t.headers[i], t.request, t.keys, t.format, &cache);
        if (!outcome.ok()) state.SkipWithError("verify failed");
        benchmark::DoNotOptimize(outcome);
        i = (i + 1) & 4095;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TokenVerify_Cached_DistinctTokens);

// The decode half alone (prefix, base64url, msgpack), to see where verification time goes.
void BM_TokenDecode(benchmark::State& state) {
    Tokens t(1, 0);
    const std::string text = t.headers[0].substr(7);
    for (auto _ : state) {
        auto decoded = token::decode_token(text, t.format);
        if (!decoded.ok()) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(decoded);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TokenDecode);

// A request the token does not allow: verification runs to the caveats and denies.
void BM_TokenVerify_Denied(benchmark::State& state) {
    Tokens t(1, 0);
    auto request = t.request;
    request.path = "/v1/transfers/tr_1";
    for (auto _ : state) {
        auto outcome = token::verify_token(t.headers[0], request, t.keys, t.format);
        if (outcome.ok()) state.SkipWithError("should be denied");
        benchmark::DoNotOptimize(outcome);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TokenVerify_Denied);

}  // namespace
