// The database relay is the one two-way pump (runtime/two_way_pump.hpp) with the protocol's
// filters; this file only adapts the filter functions of relay.hpp.
#include "db/relay.hpp"

#include <optional>

#include "runtime/two_way_pump.hpp"

namespace cloakroom::db {
namespace {

class FunctionFilter final : public runtime::PumpFilter {
  public:
    FunctionFilter(StreamFilter& feed, std::function<std::string()>* last_words)
        : feed_(feed), last_words_(last_words) {}
    Verdict feed(std::string_view chunk, std::string& out) override {
        return feed_(chunk, out) ? Verdict::Continue : Verdict::Stop;
    }
    std::string last_words() override {
        return last_words_ != nullptr && *last_words_ ? (*last_words_)() : std::string();
    }

  private:
    StreamFilter& feed_;
    std::function<std::string()>* last_words_;
};

}  // namespace

net::awaitable<RelayStats> relay(DbStream& client, DbStream& upstream,
                                 std::string pending_to_upstream, std::string pending_to_client,
                                 RelayFilters filters, std::string_view client_goodbye) {
    std::optional<FunctionFilter> client_filter;
    std::optional<FunctionFilter> server_filter;
    runtime::PumpOptions options;
    options.pending_a_to_b = std::move(pending_to_upstream);
    options.pending_b_to_a = std::move(pending_to_client);
    if (filters.client) {
        client_filter.emplace(filters.client, &filters.client_last_words);
        options.a_to_b = &*client_filter;
    }
    if (filters.server) {
        server_filter.emplace(filters.server, nullptr);
        options.b_to_a = &*server_filter;
    }
    options.a_goodbye = client_goodbye;
    const runtime::PumpResult result =
        co_await runtime::pump_both_ways(client, upstream, std::move(options));
    RelayStats stats;
    stats.client_to_upstream = result.a_to_b;
    stats.upstream_to_client = result.b_to_a;
    stats.ended_by = result.ended_by;
    co_return stats;
}

}  // namespace cloakroom::db
