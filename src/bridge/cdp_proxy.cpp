// The DevTools proxy: see cdp_proxy.hpp. One request per connection for the HTTP endpoints
// (answered with Connection: close); a WebSocket connection runs until either side closes.
#include "bridge/cdp_proxy.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "browser/cdp_endpoints.hpp"
#include "browser/cdp_filter.hpp"
#include "runtime/exchange.hpp"
#include "runtime/peer_address.hpp"

namespace cloakroom::bridge {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using browser::CdpEndpoint;

namespace {

constexpr std::string_view kAuditCdp = "cdp";
constexpr std::chrono::seconds kRequestTimeout{30};
constexpr std::chrono::seconds kBrowserTimeout{10};
constexpr std::size_t kMaxBrowserAnswer = 32 * 1024 * 1024;
// A flood of refused commands must not become a flood of audit lines.
constexpr std::size_t kMaxRefusalRecords = 200;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// The browser's DevTools endpoint: a loopback literal or "localhost" (config checked it).
std::optional<tcp::endpoint> browser_endpoint(const config::ListenerConfig& upstream) {
    boost::system::error_code ec;
    std::string host = upstream.host == "localhost" ? "127.0.0.1" : upstream.host;
    auto address = net::ip::make_address(host, ec);
    if (ec) return std::nullopt;
    return tcp::endpoint(address, upstream.port);
}

// Chrome answers DevTools HTTP requests only for a Host that is an IP literal or localhost.
std::string browser_host(const config::ListenerConfig& upstream) {
    return upstream.address;
}

net::awaitable<std::optional<Response>> fetch(const config::ListenerConfig& upstream,
                                              http::verb method, std::string target) {
    auto endpoint = browser_endpoint(upstream);
    if (!endpoint) co_return std::nullopt;
    beast::tcp_stream stream(co_await net::this_coro::executor);
    stream.expires_after(kBrowserTimeout);
    boost::system::error_code ec;
    co_await stream.async_connect(*endpoint, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return std::nullopt;
    http::request<http::empty_body> request{method, target, 11};
    request.set(http::field::host, browser_host(upstream));
    request.set(http::field::connection, "close");
    co_await http::async_write(stream, request, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return std::nullopt;
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBrowserAnswer);
    co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return std::nullopt;
    co_return parser.release();
}

// Both WebSockets of one DevTools session, the filter between them, and a write queue per
// side (Beast allows one outstanding write per stream; both directions produce messages for
// both sides).
struct Session : std::enable_shared_from_this<Session> {
    Session(beast::tcp_stream agent_stream, beast::tcp_stream browser_stream,
            const browser::CdpTargetPolicy& policy, std::optional<std::string> page)
        : agent(std::move(agent_stream)),
          browser(std::move(browser_stream)),
          filter(policy, page) {}

    websocket::stream<beast::tcp_stream> agent;
    websocket::stream<beast::tcp_stream> browser;
    browser::CdpFilter filter;
    std::deque<std::string> agent_queue, browser_queue;
    bool agent_writing = false, browser_writing = false;
    bool ended = false;
    std::shared_ptr<runtime::AuditSink> audit;
    std::string client;
    std::string path;
    std::size_t refusals = 0;

    void end() {
        if (ended) return;
        ended = true;
        // Shut down and cancel, never close: the owner closes when the session is destroyed,
        // so no descriptor number is reused while an operation could still touch it.
        for (auto* stream : {&agent, &browser}) {
            auto& socket = beast::get_lowest_layer(*stream).socket();
            boost::system::error_code ignored;
            socket.shutdown(tcp::socket::shutdown_both, ignored);
            socket.cancel(ignored);
        }
    }

    void audit_refusal(const std::string& text) {
        if (++refusals > kMaxRefusalRecords) return;
        runtime::Exchange exchange(audit, kAuditCdp, client);
        std::size_t colon = text.find(": ");
        exchange.record().method = colon == std::string::npos ? "" : text.substr(0, colon);
        exchange.record().path = path;
        exchange.refuse(runtime::Refusal{
            403, "cdp_refused", colon == std::string::npos ? text : text.substr(colon + 2)});
    }

    void apply(browser::CdpOutput& out) {
        for (auto& message : out.to_browser) browser_queue.push_back(std::move(message));
        for (auto& message : out.to_agent) agent_queue.push_back(std::move(message));
        for (const auto& refusal : out.refusals) audit_refusal(refusal);
        kick(true);
        kick(false);
        if (out.close) end();
    }

    void kick(bool to_agent) {
        bool& writing = to_agent ? agent_writing : browser_writing;
        auto& queue = to_agent ? agent_queue : browser_queue;
        if (writing || queue.empty() || ended) return;
        writing = true;
        net::co_spawn(agent.get_executor(), drain(shared_from_this(), to_agent), net::detached);
    }

    static net::awaitable<void> drain(std::shared_ptr<Session> self, bool to_agent) {
        auto& queue = to_agent ? self->agent_queue : self->browser_queue;
        auto& stream = to_agent ? self->agent : self->browser;
        while (!queue.empty() && !self->ended) {
            std::string message = std::move(queue.front());
            queue.pop_front();
            stream.text(true);
            boost::system::error_code ec;
            co_await stream.async_write(net::buffer(message),
                                        net::redirect_error(net::use_awaitable, ec));
            if (ec) {
                self->end();
                break;
            }
        }
        (to_agent ? self->agent_writing : self->browser_writing) = false;
    }

    static net::awaitable<void> pump(std::shared_ptr<Session> self, bool from_agent) {
        auto& stream = from_agent ? self->agent : self->browser;
        while (!self->ended) {
            beast::flat_buffer buffer;
            boost::system::error_code ec;
            co_await stream.async_read(buffer, net::redirect_error(net::use_awaitable, ec));
            if (ec) break;
            std::string message = beast::buffers_to_string(buffer.data());
            auto out =
                from_agent ? self->filter.from_agent(message) : self->filter.from_browser(message);
            self->apply(out);
        }
        self->end();
    }
};

net::awaitable<void> respond(beast::tcp_stream& agent, const Request& request, http::status status,
                             std::string body, std::string_view content_type) {
    Response response{status, request.version()};
    response.set(http::field::content_type, content_type);
    response.set(http::field::connection, "close");
    response.set(http::field::cache_control, "no-store");
    response.body() = std::move(body);
    response.prepare_payload();
    boost::system::error_code ec;
    co_await http::async_write(agent, response, net::redirect_error(net::use_awaitable, ec));
    agent.socket().shutdown(tcp::socket::shutdown_send, ec);
}

net::awaitable<void> refuse(beast::tcp_stream& agent, const Request& request,
                            runtime::Exchange& exchange, unsigned status, std::string error,
                            std::string reason) {
    exchange.refuse(runtime::Refusal{status, error, reason});
    exchange.finish();
    std::string body = "Cloakroom refused this DevTools request: " + reason + "\n";
    co_await respond(agent, request, static_cast<http::status>(status), std::move(body),
                     "text/plain; charset=utf-8");
}

// The WebSocket endpoints: the browser's WebSocket first (so a refused page never sees its
// upgrade accepted), then the agent's, then the filter between them until either side ends.
net::awaitable<void> serve_socket(beast::tcp_stream agent, Request request,
                                  const config::BrowserConfig& settings,
                                  const browser::CdpTargetPolicy& policy,
                                  const browser::CdpRequest& route, runtime::Exchange& exchange,
                                  std::shared_ptr<runtime::AuditSink> audit, std::string client) {
    const config::ListenerConfig& upstream = *settings.cdp_upstream;
    auto version = co_await fetch(upstream, http::verb::get, "/json/version");
    std::optional<std::string> socket_path;
    if (version && version->result() == http::status::ok) {
        socket_path = browser::browser_socket_path(version->body());
    }
    auto endpoint = browser_endpoint(upstream);
    if (!socket_path || !endpoint) {
        co_await refuse(agent, request, exchange, 502, "cdp_browser",
                        "the browser's DevTools endpoint does not answer");
        co_return;
    }
    beast::tcp_stream browser_stream(co_await net::this_coro::executor);
    browser_stream.expires_after(kBrowserTimeout);
    boost::system::error_code ec;
    co_await browser_stream.async_connect(*endpoint, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
        co_await refuse(agent, request, exchange, 502, "cdp_browser",
                        "the browser's DevTools endpoint does not answer");
        co_return;
    }
    std::optional<std::string> page;
    if (route.endpoint == CdpEndpoint::PageSocket) page = route.target_id;
    auto session =
        std::make_shared<Session>(std::move(agent), std::move(browser_stream), policy, page);
    session->audit = audit;
    session->client = client;
    session->path =
        route.endpoint == CdpEndpoint::PageSocket ? "/devtools/page" : "/devtools/browser";
    for (auto* stream : {&session->agent, &session->browser}) {
        stream->read_message_max(browser::kMaxCdpMessage);
    }
    session->browser.set_option(
        websocket::stream_base::timeout::suggested(beast::role_type::client));
    co_await session->browser.async_handshake(browser_host(upstream), *socket_path,
                                              net::redirect_error(net::use_awaitable, ec));
    beast::get_lowest_layer(session->browser).expires_never();
    if (ec) {
        co_await refuse(beast::get_lowest_layer(session->agent), request, exchange, 502,
                        "cdp_browser", "the browser refused the DevTools WebSocket");
        co_return;
    }
    auto start = session->filter.start();
    for (auto& message : start.to_browser) {
        session->browser.text(true);
        co_await session->browser.async_write(net::buffer(message),
                                              net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
    }
    // Page mode: the filter attaches to the page itself first; until that is answered (and the
    // page found allowed) the agent's upgrade waits.
    std::vector<std::string> early_to_agent;
    auto& agent_layer = beast::get_lowest_layer(session->agent);
    beast::get_lowest_layer(session->browser).expires_after(kBrowserTimeout);
    bool closed = static_cast<bool>(ec);
    while (!closed && !session->filter.ready()) {
        beast::flat_buffer buffer;
        co_await session->browser.async_read(buffer, net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
        auto out = session->filter.from_browser(beast::buffers_to_string(buffer.data()));
        for (auto& message : out.to_browser) {
            session->browser.text(true);
            co_await session->browser.async_write(net::buffer(message),
                                                  net::redirect_error(net::use_awaitable, ec));
        }
        for (auto& message : out.to_agent) early_to_agent.push_back(std::move(message));
        closed = out.close;
    }
    beast::get_lowest_layer(session->browser).expires_never();
    if (closed || !session->filter.ready()) {
        co_await refuse(agent_layer, request, exchange, 403, "cdp_target",
                        "the page is not an allowed DevTools target");
        session->end();
        co_return;
    }
    session->agent.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    co_await session->agent.async_accept(request, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
        exchange.fail(400, "the agent's WebSocket handshake failed");
        session->end();
        co_return;
    }
    exchange.complete(101, runtime::kAllow, "");
    for (auto& message : early_to_agent) session->agent_queue.push_back(std::move(message));
    session->kick(true);
    net::co_spawn(session->agent.get_executor(), Session::pump(session, false), net::detached);
    co_await Session::pump(session, true);
}

}  // namespace

net::awaitable<void> run_cdp_connection(tcp::socket socket, const runtime::RuntimeHolder& holder) {
    const auto snapshot = holder.get();
    const std::string client = runtime::peer_address(socket);
    beast::tcp_stream agent(std::move(socket));
    agent.expires_after(kRequestTimeout);
    beast::flat_buffer buffer;
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(64 * 1024);
    boost::system::error_code ec;
    co_await http::async_read(agent, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
        if (ec != http::error::end_of_stream && ec != net::error::eof) {
            runtime::Exchange exchange(snapshot->audit, kAuditCdp, client);
            exchange.refuse(runtime::Refusal{400, "cdp_request", "malformed HTTP request"});
            exchange.finish();
            Request empty;
            empty.version(11);
            co_await respond(agent, empty, http::status::bad_request,
                             "Cloakroom: malformed HTTP request\n", "text/plain; charset=utf-8");
        }
        co_return;
    }
    Request request = parser.release();
    agent.expires_after(kRequestTimeout);
    runtime::Exchange exchange(snapshot->audit, kAuditCdp, client);
    const std::string target(request.target());
    exchange.record().method = std::string(request.method_string());
    // The path only: /json/new's query is a URL, which may carry anything.
    exchange.record().path = target.substr(0, target.find('?'));
    const config::BrowserConfig& settings = snapshot->config.browser;
    if (settings.cdp_upstream) exchange.record().host = settings.cdp_upstream->address;

    // A web page can make the user's browser send requests here (DNS rebinding, a form post):
    // only a loopback Host and no Origin are accepted, as Chrome itself does.
    if (!browser::is_loopback_host_header(request[http::field::host])) {
        co_await refuse(agent, request, exchange, 403, "cdp_host",
                        "the Host header must name localhost, 127.0.0.1 or [::1]");
        co_return;
    }
    if (request.find(http::field::origin) != request.end()) {
        co_await refuse(agent, request, exchange, 403, "cdp_origin",
                        "requests from web pages (with an Origin header) are refused");
        co_return;
    }
    if (!settings.cdp_upstream) {
        co_await refuse(agent, request, exchange, 503, "cdp_unconfigured",
                        "no browser is configured ([browser] cdp_upstream)");
        co_return;
    }
    const browser::CdpTargetPolicy policy(settings.cdp_targets);
    const bool upgrade = websocket::is_upgrade(request);
    const auto route = browser::classify_cdp_request(request.method_string(), target, upgrade);
    const std::string proxy_authority(request[http::field::host]);
    const config::ListenerConfig& upstream = *settings.cdp_upstream;

    switch (route.endpoint) {
        case CdpEndpoint::Refused:
            co_await refuse(agent, request, exchange, 404, "cdp_endpoint",
                            "this DevTools endpoint is not available through Cloakroom");
            co_return;
        case CdpEndpoint::BrowserSocket:
        case CdpEndpoint::PageSocket:
            co_await serve_socket(std::move(agent), std::move(request), settings, policy, route,
                                  exchange, snapshot->audit, client);
            co_return;
        default:
            break;
    }

    std::optional<std::string> body;
    if (route.endpoint == CdpEndpoint::New) {
        if (!policy.allows_navigation(route.url)) {
            co_await refuse(agent, request, exchange, 403, "cdp_target",
                            "the URL is not an allowed DevTools target");
            co_return;
        }
        auto query =
            target.substr(target.find('?') == std::string::npos ? target.size() : target.find('?'));
        auto answer = co_await fetch(upstream, http::verb::put, "/json/new" + query);
        if (answer && answer->result() == http::status::ok) {
            body = browser::filter_target(answer->body(), policy, proxy_authority, true);
        }
    } else if (route.endpoint == CdpEndpoint::Activate || route.endpoint == CdpEndpoint::Close) {
        auto list = co_await fetch(upstream, http::verb::get, "/json/list");
        std::optional<std::string> allowed;
        if (list && list->result() == http::status::ok) {
            allowed = browser::filter_target_list(list->body(), policy, proxy_authority);
        }
        // The id must be one of the allowed targets the browser lists right now.
        if (!allowed || allowed->find("\"id\":\"" + route.target_id + "\"") == std::string::npos) {
            co_await refuse(agent, request, exchange, 404, "cdp_target",
                            "no allowed DevTools target has this id");
            co_return;
        }
        const char* verb =
            route.endpoint == CdpEndpoint::Activate ? "/json/activate/" : "/json/close/";
        auto answer = co_await fetch(upstream, http::verb::get, verb + route.target_id);
        if (answer) body = answer->body();
    } else {
        const char* path = route.endpoint == CdpEndpoint::List      ? "/json/list"
                           : route.endpoint == CdpEndpoint::Version ? "/json/version"
                                                                    : "/json/protocol";
        auto answer = co_await fetch(upstream, http::verb::get, path);
        if (answer && answer->result() == http::status::ok) {
            if (route.endpoint == CdpEndpoint::List) {
                body = browser::filter_target_list(answer->body(), policy, proxy_authority);
            } else if (route.endpoint == CdpEndpoint::Version) {
                body = browser::rewrite_version(answer->body(), proxy_authority);
            } else {
                body = std::move(answer->body());
            }
        }
    }
    if (!body) {
        exchange.fail(502, "the browser's DevTools endpoint gave no usable answer");
        exchange.finish();
        co_await respond(agent, request, http::status::bad_gateway,
                         "Cloakroom: the browser's DevTools endpoint gave no usable answer\n",
                         "text/plain; charset=utf-8");
        co_return;
    }
    exchange.complete(200, runtime::kAllow, "");
    exchange.finish();
    co_await respond(agent, request, http::status::ok, std::move(*body),
                     "application/json; charset=UTF-8");
}

}  // namespace cloakroom::bridge
