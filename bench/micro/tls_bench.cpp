// Leaf certificates for intercepted hosts (tls::LeafCache::get): the cached lookup every CONNECT
// pays, and minting a fresh leaf (first CONNECT to a host, or renewal).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "bench_support.hpp"
#include "tls/certificate_authority.hpp"
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

}  // namespace
