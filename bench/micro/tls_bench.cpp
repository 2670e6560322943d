// Leaf certificates for intercepted hosts (tls::LeafCache::get): the cached lookup every CONNECT
// pays, and minting a fresh leaf (first CONNECT to a host, or renewal).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "bench_support.hpp"
#include "tls/certificate_authority.hpp"
#include "tls/contexts.hpp"
#include "tls/leaf_cache.hpp"

namespace {

using namespace cloakroom;

std::shared_ptr<const tls::CertificateAuthority> authority() {
    static bench::TempDir dir;
    static auto ca = [] {
        auto loaded = tls::CertificateAuthority::load_or_create(dir.path() / "ca");
        if (!loaded.ok()) std::abort();
        return *loaded;
    }();
    return ca;
}

void BM_LeafCacheGet_Cached(benchmark::State& state) {
    tls::LeafCache cache(authority());
    if (!cache.get("api.example.com").ok()) std::abort();
    for (auto _ : state) {
        auto leaf = cache.get("api.example.com");
        if (!leaf.ok()) state.SkipWithError("get failed");
        benchmark::DoNotOptimize(leaf);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LeafCacheGet_Cached);

void BM_LeafCacheGet_Fresh(benchmark::State& state) {
    tls::LeafOptions options;
    options.max_entries = 1024;  // bounded memory; includes the LRU eviction beyond that
    tls::LeafCache cache(authority(), options);
    std::size_t i = 0;
    for (auto _ : state) {
        std::string host = std::to_string(i++);
        host.append(".example.com");  // ("h" + ... trips gcc 12's -O3 -Wrestrict false positive)
        auto leaf = cache.get(host);
        if (!leaf.ok()) state.SkipWithError("mint failed");
        benchmark::DoNotOptimize(leaf);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LeafCacheGet_Fresh);

// What every intercepted connection pays before its handshake: an SSL from the shared server
// context with the host's leaf installed (SSL_use_certificate + SSL_use_PrivateKey), compared
// with an SSL made from a context that already holds the leaf.
void BM_SslWithLeaf_UseLeaf(benchmark::State& state) {
    tls::LeafCache cache(authority());
    auto leaf = cache.get("api.example.com");
    auto server = tls::make_server_context();
    if (!leaf.ok() || !server.ok()) std::abort();
    for (auto _ : state) {
        SSL* ssl = SSL_new(server->get());
        if (!tls::use_leaf(ssl, **leaf).ok()) state.SkipWithError("use_leaf failed");
        SSL_free(ssl);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SslWithLeaf_UseLeaf);

void BM_SslWithLeaf_LeafContext(benchmark::State& state) {
    tls::LeafCache cache(authority());
    auto leaf = cache.get("api.example.com");
    auto server = tls::make_server_context();
    if (!leaf.ok() || !server.ok()) std::abort();
    SSL_CTX* ctx = server->get();
    if (SSL_CTX_use_certificate(ctx, (*leaf)->cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, (*leaf)->key.get()) != 1) {
        std::abort();
    }
    for (auto _ : state) {
        SSL* ssl = SSL_new(ctx);
        if (ssl == nullptr) state.SkipWithError("SSL_new failed");
        SSL_free(ssl);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SslWithLeaf_LeafContext);

}  // namespace
