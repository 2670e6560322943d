#include "db/relay.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

namespace cloakroom::db {
namespace {

// 32 KiB per direction: large enough for bulk results in few syscalls, small enough that
// thousands of idle sessions stay cheap.
constexpr std::size_t kChunk = 32 * 1024;
constexpr std::size_t kTail = 8;

void keep_tail(std::string& tail, std::string_view written) {
    if (written.size() >= kTail) {
        tail.assign(written.substr(written.size() - kTail));
        return;
    }
    tail.append(written);
    if (tail.size() > kTail) tail.erase(0, tail.size() - kTail);
}

struct Pump {
    std::uint64_t bytes = 0;
    std::string ended_by;
    std::string tail;                  // the last (up to kTail) bytes written
    std::string* first_end = nullptr;  // shared: set by whichever direction ends first
    void end(std::string why) {
        ended_by = std::move(why);
        if (first_end->empty()) *first_end = ended_by;
    }
};

net::awaitable<void> pump(DbStream& from, DbStream& to, std::string pending, const char* from_name,
                          StreamFilter* filter, Pump& result) {
    boost::system::error_code ec;
    std::string filtered;
    std::vector<char> buffer(kChunk);
    std::string_view chunk = pending;
    for (;;) {
        bool keep_going = true;
        if (filter != nullptr && *filter) {
            filtered.clear();
            keep_going = (*filter)(chunk, filtered);
            chunk = filtered;
        }
        if (!chunk.empty()) {
            co_await to.write_all(chunk, ec);
            if (ec) {
                result.end(std::string("error: write: ") + ec.message());
                co_return;
            }
            result.bytes += chunk.size();
            keep_tail(result.tail, chunk);
        }
        if (!keep_going) {
            result.end("filter");
            co_return;
        }
        const std::size_t n = co_await from.read_some(net::buffer(buffer), ec);
        if (ec || n == 0) {
            result.end(from_name);
            co_return;
        }
        chunk = std::string_view(buffer.data(), n);
    }
}

}  // namespace

net::awaitable<RelayStats> relay(DbStream& client, DbStream& upstream,
                                 std::string pending_to_upstream, std::string pending_to_client,
                                 RelayFilters filters, std::string_view client_goodbye) {
    auto executor = co_await net::this_coro::executor;
    std::string first_end;
    Pump down{0, {}, {}, &first_end};  // upstream -> client
    Pump up{0, {}, {}, &first_end};    // client -> upstream
    net::steady_timer down_done(executor, std::chrono::steady_clock::time_point::max());
    bool down_finished = false;
    // Set when the client filter ended the session: the client stays open for its last words.
    bool keep_client = false;
    // Both directions run on this strand-less single-threaded io_context; whichever ends first
    // closes both streams so the other read fails at once.
    net::co_spawn(
        executor,
        pump(upstream, client, std::move(pending_to_client), "upstream", &filters.server, down),
        [&](std::exception_ptr) {
            down_finished = true;
            if (!keep_client) client.close();
            upstream.close();
            down_done.cancel();
        });
    co_await pump(client, upstream, std::move(pending_to_upstream), "client", &filters.client, up);
    const bool filtered_out = up.ended_by == "filter";
    keep_client = filtered_out && !down_finished && filters.client_last_words != nullptr;
    if (!keep_client) client.close();
    upstream.close();
    if (!down_finished) {
        boost::system::error_code ec;
        co_await down_done.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    if (keep_client) {
        const std::string words = filters.client_last_words();
        if (!words.empty()) {
            boost::system::error_code ec;
            co_await client.write_all(words, ec);
            if (!ec) down.bytes += words.size();
        }
        client.close();
    }
    RelayStats stats;
    stats.client_to_upstream = up.bytes;
    stats.upstream_to_client = down.bytes;
    stats.ended_by = first_end;
    if (first_end == "upstream" && !client_goodbye.empty() &&
        std::string_view(up.tail).ends_with(client_goodbye)) {
        stats.ended_by = "client";
    }
    co_return stats;
}

}  // namespace cloakroom::db
