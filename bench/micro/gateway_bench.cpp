// The whole per-request authorization decision of the forward proxy, without I/O: find the token
// in the request, normalize the target, service rules, token verification (proxy::authorize).
#include <benchmark/benchmark.h>

#include <ctime>
#include <string>

#include "config/loader.hpp"
#include "http/head.hpp"
#include "policy/request_path.hpp"
#include "proxy/request_auth.hpp"
#include "token/token.hpp"

namespace {

using namespace cloakroom;

constexpr const char* kConfig = R"(
[gateway]
listen = "127.0.0.1:0"
data_dir = "/nonexistent/cloakroom-bench"

[token]
key_dir = "/nonexistent/cloakroom-bench/keys"

[secrets]
dir = "/nonexistent/cloakroom-bench/secrets"

[[service]]
name = "api"
hosts = ["api.example.com"]
credential = { type = "bearer", secret = "file:api.key" }

[[service.deny]]
methods = ["DELETE"]

[[service.deny]]
paths = ["/v1/transfers/**"]
)";

void BM_Authorize(benchmark::State& state) {
    config::Environment env(
        config::Environment::Variables{{"HOME", "/nonexistent/cloakroom-bench"}});
    auto cfg = config::parse_config_string(kConfig, "bench.toml", env);
    if (!cfg.ok()) {
        state.SkipWithError(("config: " + cfg.error().message).c_str());
        return;
    }
    const config::Service* service = cfg->find_service("api.example.com");
    if (service == nullptr) std::abort();
    token::KeyStore keys;
    if (!keys.add_base64("primary", "Y2FuYXJ5LXNpZ25pbmcta2V5LTAxMjM0NTY3ODlhYmNkZWYh").ok())
        std::abort();
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    const token::TokenFormat format{cfg->token.prefix, cfg->token.location};
    auto tok = token::mint_token(
        keys, "primary",
        {token::hosts_caveat({"api.example.com"}), token::validity_caveat(now - 60, now + 3600)},
        format);
    if (!tok.ok()) std::abort();
    http::Head req;
    const std::string text =
        "GET /v1/charges/ch_123?expand=customer HTTP/1.1\r\nHost: api.example.com\r\n"
        "User-Agent: bench\r\nAuthorization: Bearer " +
        *tok + "\r\n\r\n";
    if (!req.parse_request(text)) std::abort();
    for (auto _ : state) {
        auto target = policy::normalize_target(req.target());
        if (!target.ok()) std::abort();
        auto found = proxy::find_token(req, target->query, &*service->credential, cfg->token.prefix,
                                       std::nullopt);
        auto decision =
            proxy::authorize(*cfg, *service, token::RoutedHost{"api.example.com", 443, false}, req,
                             *target, found, keys, now, false, nullptr);
        if (decision.kind != proxy::AuthDecision::Inject) state.SkipWithError("not Inject");
        benchmark::DoNotOptimize(decision);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Authorize);

}  // namespace
