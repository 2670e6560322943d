// Secret lookup: the gateway resolves the credential on every injected request, so this is a
// per-request cost. The file provider serves an unchanged file from SecretResolver's cache: with
// inotify (the default) after one ioctl(FIONREAD) on the inotify fd, without it (the fallback)
// after two stats. Rotation still needs no reload either way.
#include <benchmark/benchmark.h>
#include <sys/stat.h>

#include <fstream>

#include "bench_support.hpp"
#include "secrets/resolver.hpp"
#include "secrets/secret_ref.hpp"

namespace {

using namespace cloakroom;

// state.range(0): SecretSources::watch (1: inotify, 0: the two-stat fallback).
void BM_SecretResolveFile(benchmark::State& state) {
    bench::TempDir dir;
    const auto root = dir.path() / "secrets";
    std::filesystem::create_directory(root);
    chmod(root.c_str(), 0700);
    {
        std::ofstream out(root / "api.key");
        out << "sk_bench_0123456789abcdef0123456789abcdef\n";
    }
    chmod((root / "api.key").c_str(), 0600);
    secrets::SecretSources sources;
    sources.file_root = root;
    // Steady state: the file was written long ago. (The default 2 s settle window would keep a
    // file this fresh uncached for the first part of the run.)
    sources.cache_settle = std::chrono::milliseconds(0);
    sources.watch = state.range(0) != 0;
    secrets::SecretResolver resolver(sources);
    auto ref = secrets::parse_secret_ref("file:api.key");
    if (!ref.ok()) std::abort();
    for (auto _ : state) {
        auto value = resolver.resolve(*ref);
        if (!value.ok()) state.SkipWithError("resolve failed");
        benchmark::DoNotOptimize(value);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SecretResolveFile)->ArgName("inotify")->Arg(1)->Arg(0);

}  // namespace
