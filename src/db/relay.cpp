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
                          ClientFilter* filter, Pump& result) {
    boost::system::error_code ec;
    if (!pending.empty()) {
        co_await to.write_all(pending, ec);
        if (ec) {
            result.end("error: write: " + ec.message());
            co_return;
        }
        result.bytes += pending.size();
        keep_tail(result.tail, pending);
    }
    std::vector<char> buffer(kChunk);
    std::string filtered;
    for (;;) {
        const std::size_t n = co_await from.read_some(net::buffer(buffer), ec);
        if (ec || n == 0) {
            result.end(from_name);
            co_return;
        }
        std::string_view chunk(buffer.data(), n);
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
    }
}

}  // namespace

net::awaitable<RelayStats> relay(DbStream& client, DbStream& upstream,
                                 std::string pending_to_upstream, std::string pending_to_client,
                                 ClientFilter filter, std::string_view client_goodbye) {
    auto executor = co_await net::this_coro::executor;
    std::string first_end;
    Pump down{0, {}, {}, &first_end};  // upstream -> client
    Pump up{0, {}, {}, &first_end};    // client -> upstream
    net::steady_timer down_done(executor, std::chrono::steady_clock::time_point::max());
    bool down_finished = false;
    // Both directions run on this strand-less single-threaded io_context; whichever ends first
    // closes both streams so the other read fails at once.
    net::co_spawn(executor,
                  pump(upstream, client, std::move(pending_to_client), "upstream", nullptr, down),
                  [&](std::exception_ptr) {
                      down_finished = true;
                      client.close();
                      upstream.close();
                      down_done.cancel();
                  });
    co_await pump(client, upstream, std::move(pending_to_upstream), "client", &filter, up);
    client.close();
    upstream.close();
    if (!down_finished) {
        boost::system::error_code ec;
        co_await down_done.async_wait(net::redirect_error(net::use_awaitable, ec));
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
