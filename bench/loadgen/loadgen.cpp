// cloakroom_loadgen: a small HTTP/1.1 load generator for bench/run. wrk cannot speak through a
// forward proxy, so this one can: each connection optionally sends "CONNECT host:port" to a proxy
// first, then TLS (verified: chain against --cacert, host name, SNI), then requests.
//
// Modes
//   keep-alive (default)   N connections, each sends requests back to back
//   --new-conn             every request on a new connection (TCP + CONNECT + full TLS handshake;
//                          no session resumption), the latency covers all of it
//   --idle N               opens N connections, each completes one request, then keeps them all
//                          open and idle; reports the RSS growth of --pid processes per connection
//   --requests N           stop after N requests (the harness's correctness check uses 1)
//
// Every response is checked: status (--expect-status), body size (--expect-size), headers
// (--expect-header "Name: value"), and with --expect-body-file the exact bytes. A mismatch counts
// as an error; the exit code is 1 when any request failed or nothing completed.
//
// Results are one JSON object on stdout: requests and req/s within the measured window (after
// --warmup), latency percentiles (µs), and for every --pid: CPU (utime+stime from /proc/PID/stat)
// over the window, per request, and the peak RSS sampled every 50 ms.
#include <utility>

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
    bool tls = true;
    std::string host;  // Host header, SNI, certificate name, CONNECT authority host
    std::uint16_t port = 443;
    std::string path = "/";
    std::string dial_host = "127.0.0.1";  // where TCP goes (the proxy with --proxy)
    std::uint16_t dial_port = 0;
    bool via_proxy = false;
    std::string cafile;
    std::vector<std::string> headers;
    int connections = 1;
    int threads = 1;
    double duration = 5;
    double warmup = 1;
    bool keepalive = true;
    long max_requests = 0;
    int expect_status = 200;
    long expect_size = -1;
    std::vector<std::pair<std::string, std::string>> expect_headers;  // lower-case names
    std::string expect_body;
    bool have_expect_body = false;
    std::string expect_tls;  // e.g. "TLSv1.3": the protocol every handshake must negotiate
    std::vector<int> pids;
    int idle = 0;
    double settle = 1.0;
    int setup_parallel = 32;
    bool show = false;   // print the first response head to stderr
    int h2_streams = 0;  // --h2 N: HTTP/2 (ALPN h2 only), N concurrent streams per connection
};

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(
        stderr,
        "cloakroom_loadgen: %s\n"
        "usage: cloakroom_loadgen --url https://HOST[:PORT]/PATH (--dial IP:PORT | --proxy "
        "IP:PORT)\n"
        "  [--cacert FILE] [-c CONNS] [-t THREADS] [-d SECONDS] [--warmup SECONDS]\n"
        "  [--new-conn] [--requests N] [--idle N [--settle SECONDS]] [-H 'Name: value']\n"
        "  [--expect-status N] [--expect-size BYTES] [--expect-header 'Name: value']\n"
        "  [--expect-body-file FILE] [--expect-tls TLSv1.3] [--pid PID]... [--show]\n"
        "  [--h2 STREAMS]   HTTP/2 (ALPN h2), STREAMS concurrent requests per connection\n",
        why.c_str());
    std::exit(2);
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

template <class T>
T parse_number(std::string_view text, const char* what) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size())
        usage(std::string("bad ") + what + ": " + std::string(text));
    return value;
}

double parse_double(const std::string& text, const char* what) {
    try {
        std::size_t used = 0;
        double v = std::stod(text, &used);
        if (used != text.size() || v < 0) throw std::invalid_argument(text);
        return v;
    } catch (const std::exception&) {
        usage(std::string("bad ") + what + ": " + text);
    }
}

std::pair<std::string, std::uint16_t> parse_host_port(std::string_view text, const char* what) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) usage(std::string(what) + " needs HOST:PORT");
    std::string host(text.substr(0, colon));
    if (host.size() > 1 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    return {host, parse_number<std::uint16_t>(text.substr(colon + 1), what)};
}

void parse_url(Options& o, std::string_view url) {
    if (url.starts_with("https://")) {
        o.tls = true;
        url.remove_prefix(8);
        o.port = 443;
    } else if (url.starts_with("http://")) {
        o.tls = false;
        url.remove_prefix(7);
        o.port = 80;
    } else {
        usage("--url must start with https:// or http://");
    }
    auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    o.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
        o.host = std::string(authority.substr(0, colon));
        o.port = parse_number<std::uint16_t>(authority.substr(colon + 1), "port");
    } else {
        o.host = std::string(authority);
    }
    if (o.host.empty()) usage("--url has no host");
}

Options parse_options(int argc, char** argv) {
    Options o;
    bool have_url = false;
    bool have_dial = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--url") {
            parse_url(o, next());
            have_url = true;
        } else if (a == "--dial" || a == "--proxy") {
            auto [h, p] = parse_host_port(next(), a.c_str());
            o.dial_host = h;
            o.dial_port = p;
            o.via_proxy = a == "--proxy";
            have_dial = true;
        } else if (a == "--cacert") {
            o.cafile = next();
        } else if (a == "-c" || a == "--connections") {
            o.connections = parse_number<int>(next(), "connections");
        } else if (a == "-t" || a == "--threads") {
            o.threads = parse_number<int>(next(), "threads");
        } else if (a == "-d" || a == "--duration") {
            o.duration = parse_double(next(), "duration");
        } else if (a == "--warmup") {
            o.warmup = parse_double(next(), "warmup");
        } else if (a == "--new-conn") {
            o.keepalive = false;
        } else if (a == "--requests") {
            o.max_requests = parse_number<long>(next(), "requests");
        } else if (a == "-H" || a == "--header") {
            o.headers.push_back(next());
        } else if (a == "--expect-status") {
            o.expect_status = parse_number<int>(next(), "status");
        } else if (a == "--expect-size") {
            o.expect_size = parse_number<long>(next(), "size");
        } else if (a == "--expect-tls") {
            o.expect_tls = next();
        } else if (a == "--expect-header") {
            std::string h = next();
            auto colon = h.find(':');
            if (colon == std::string::npos) usage("--expect-header needs 'Name: value'");
            o.expect_headers.emplace_back(lower(trim(std::string_view(h).substr(0, colon))),
                                          std::string(trim(std::string_view(h).substr(colon + 1))));
        } else if (a == "--expect-body-file") {
            std::ifstream in(next(), std::ios::binary);
            if (!in) usage("cannot read --expect-body-file");
            o.expect_body.assign(std::istreambuf_iterator<char>(in), {});
            o.have_expect_body = true;
        } else if (a == "--pid") {
            o.pids.push_back(parse_number<int>(next(), "pid"));
        } else if (a == "--idle") {
            o.idle = parse_number<int>(next(), "idle");
        } else if (a == "--settle") {
            o.settle = parse_double(next(), "settle");
        } else if (a == "--setup-parallel") {
            o.setup_parallel = parse_number<int>(next(), "setup-parallel");
        } else if (a == "--h2") {
            o.h2_streams = parse_number<int>(next(), "--h2");
            if (o.h2_streams < 1 || o.h2_streams > 1000) usage("--h2 takes 1 to 1000 streams");
        } else if (a == "--show") {
            o.show = true;
        } else {
            usage("unknown option " + a);
        }
    }
    if (o.h2_streams > 0 && (!o.keepalive || o.idle > 0 || !o.tls))
        usage("--h2 needs TLS and cannot be combined with --new-conn or --idle");
    if (!have_url) usage("--url is required");
    if (!have_dial) usage("--dial or --proxy is required");
    if (o.connections < 1 || o.threads < 1) usage("connections and threads must be >= 1");
    if (o.threads > o.connections && o.idle == 0) o.threads = o.connections;
    return o;
}

// ------------------------------------------------------------------------------------------
// process accounting (/proc)

struct ProcSample {
    double cpu_seconds = 0;  // utime + stime, all threads
    double sys_seconds = 0;  // stime alone: the kernel's share (syscalls, network stack)
    long rss_kb = 0;
};

ProcSample sample_pid(int pid) {
    ProcSample s;
    {
        std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
        std::string text((std::istreambuf_iterator<char>(in)), {});
        auto close = text.rfind(')');
        if (close != std::string::npos) {
            std::istringstream fields(text.substr(close + 2));
            std::vector<std::string> f;
            std::string x;
            while (fields >> x && f.size() < 14) f.push_back(x);
            // after ") ": state(3) ppid(4) ... utime(14) stime(15) -> indices 11 and 12 here
            if (f.size() >= 13) {
                const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
                s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / hz;
                s.sys_seconds = std::stod(f[12]) / hz;
            }
        }
    }
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.starts_with("VmRSS:")) {
            s.rss_kb = std::atol(line.c_str() + 6);
            break;
        }
    }
    return s;
}

ProcSample sample_pids(const std::vector<int>& pids) {
    ProcSample total;
    for (int pid : pids) {
        auto s = sample_pid(pid);
        total.cpu_seconds += s.cpu_seconds;
        total.sys_seconds += s.sys_seconds;
        total.rss_kb += s.rss_kb;
    }
    return total;
}

// ------------------------------------------------------------------------------------------
// shared state

struct Shared {
    const Options& options;
    ssl::context* tls_context = nullptr;
    std::string request;  // the bytes sent for every request
    Clock::time_point window_start;
    Clock::time_point window_end;
    std::atomic<bool> stop{false};
    std::atomic<long> total_ok{0};
    std::atomic<long> total_errors{0};
    std::atomic<long> started{0};  // requests begun (for --requests)
    std::atomic<int> idle_ready{0};
    std::atomic<int> idle_failed{0};
    std::atomic<bool> shown{false};
    std::mutex error_mutex;
    std::vector<std::string> error_samples;

    explicit Shared(const Options& o) : options(o) {}

    void error(const std::string& what) {
        total_errors.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(error_mutex);
        if (error_samples.size() < 5) error_samples.push_back(what);
    }
};

struct ThreadStats {
    std::vector<std::uint32_t> latencies_ns_div16;  // in the window; ns/16 fits 68 s in 32 bits
    long window_ok = 0;
    long window_bytes = 0;
};

// ------------------------------------------------------------------------------------------
// one client connection

class Connection {
  public:
    Connection(net::io_context& io, Shared& shared) : io_(io), shared_(shared), socket_(io) {}

    // TCP connect, optional CONNECT, optional TLS handshake.
    net::awaitable<void> open() {
        const Options& o = shared_.options;
        tls_.reset();
        socket_ = tcp::socket(io_);
        tcp::endpoint endpoint(net::ip::make_address(o.dial_host), o.dial_port);
        co_await socket_.async_connect(endpoint, net::use_awaitable);
        socket_.set_option(tcp::no_delay(true));
        begin_ = end_ = 0;
        if (o.via_proxy) {
            std::string authority = o.host + ":" + std::to_string(o.port);
            std::string connect = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority +
                                  "\r\nUser-Agent: cloakroom-loadgen\r\n\r\n";
            co_await net::async_write(socket_, net::buffer(connect), net::use_awaitable);
            // Read the proxy's answer byte-exactly up to the blank line (TLS follows at once).
            std::string head;
            char c = 0;
            while (!head.ends_with("\r\n\r\n")) {
                co_await net::async_read(socket_, net::buffer(&c, 1), net::use_awaitable);
                head.push_back(c);
                if (head.size() > 16384) throw std::runtime_error("CONNECT answer too long");
            }
            if (head.size() < 12 || head.compare(9, 3, "200") != 0)
                throw std::runtime_error("CONNECT refused: " + head.substr(0, head.find('\r')));
        }
        if (o.tls) {
            tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, *shared_.tls_context);
            SSL* ssl_handle = tls_->native_handle();
            boost::system::error_code ec;
            net::ip::make_address(o.host, ec);
            if (ec) {
                // SSL_set_tlsext_host_name is a macro with a C cast; call what it expands to.
                SSL_ctrl(ssl_handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                         const_cast<char*>(o.host.c_str()));
                SSL_set1_host(ssl_handle, o.host.c_str());
            } else {
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), o.host.c_str());
            }
            co_await tls_->async_handshake(ssl::stream_base::client, net::use_awaitable);
            // Candidates must do the same job: a server that negotiates an older protocol
            // (nginx 1.22 offers only up to TLS 1.2 unless told) is not comparable.
            if (!o.expect_tls.empty() && o.expect_tls != SSL_get_version(ssl_handle)) {
                throw std::runtime_error(std::string("negotiated ") + SSL_get_version(ssl_handle) +
                                         ", expected " + o.expect_tls);
            }
            if (o.h2_streams > 0) {
                const unsigned char* alpn = nullptr;
                unsigned int alpn_size = 0;
                SSL_get0_alpn_selected(ssl_handle, &alpn, &alpn_size);
                if (std::string_view(reinterpret_cast<const char*>(alpn), alpn_size) != "h2")
                    throw std::runtime_error("the server did not negotiate h2 (ALPN)");
            }
        }
    }

    // One request and its whole response; throws on I/O errors, returns a check failure text
    // (empty when the response is as expected). Sets `reusable` from the response's framing.
    net::awaitable<std::string> exchange(bool& reusable, long& body_bytes) {
        const Options& o = shared_.options;
        co_await write(shared_.request);
        // head
        std::size_t head_end;
        while ((head_end = find_head_end()) == std::string::npos) {
            if (end_ - begin_ > 65536) throw std::runtime_error("response head too long");
            co_await fill();
        }
        std::string_view head(buffer_.data() + begin_, head_end - begin_);
        if (o.show && !shared_.shown.exchange(true))
            std::fprintf(stderr, "%.*s\n", static_cast<int>(head.size()), head.data());
        std::string failure;
        int status = 0;
        if (head.size() > 12 && head.starts_with("HTTP/1.")) {
            std::from_chars(head.data() + 9, head.data() + 12, status);
        }
        long content_length = -1;
        bool chunked = false;
        bool close = head.starts_with("HTTP/1.0");
        std::vector<bool> seen(o.expect_headers.size(), false);
        std::size_t pos = head.find("\r\n");
        while (pos != std::string_view::npos && pos + 2 < head.size()) {
            std::size_t line_end = head.find("\r\n", pos + 2);
            std::string_view line = head.substr(pos + 2, line_end - pos - 2);
            pos = line_end;
            auto colon = line.find(':');
            if (colon == std::string_view::npos) continue;
            std::string name = lower(trim(line.substr(0, colon)));
            std::string_view value = trim(line.substr(colon + 1));
            if (name == "content-length") {
                content_length = 0;
                std::from_chars(value.data(), value.data() + value.size(), content_length);
            } else if (name == "transfer-encoding") {
                chunked = lower(value).find("chunked") != std::string::npos;
            } else if (name == "connection") {
                std::string v = lower(value);
                if (v.find("close") != std::string::npos) close = true;
            }
            for (std::size_t i = 0; i < o.expect_headers.size(); ++i) {
                if (o.expect_headers[i].first == name && o.expect_headers[i].second == value)
                    seen[i] = true;
            }
        }
        begin_ = head_end + 4;
        if (status != o.expect_status)
            failure = "status " + std::to_string(status) + " (expected " +
                      std::to_string(o.expect_status) + ")";
        for (std::size_t i = 0; i < seen.size() && failure.empty(); ++i) {
            if (!seen[i])
                failure = "header '" + o.expect_headers[i].first + ": " +
                          o.expect_headers[i].second + "' missing";
        }
        // body
        body_.clear();
        body_bytes = 0;
        if (chunked) {
            for (;;) {
                std::string line = co_await read_line();
                long size = 0;
                auto semi = line.find(';');
                std::string_view digits = trim(std::string_view(line).substr(0, semi));
                auto [p, ec] =
                    std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
                if (ec != std::errc() || p != digits.data() + digits.size() || size < 0)
                    throw std::runtime_error("bad chunk size");
                if (size == 0) {
                    while (!(co_await read_line()).empty()) {
                    }
                    break;
                }
                co_await consume_body(size);
                body_bytes += size;
                if (!(co_await read_line()).empty()) throw std::runtime_error("bad chunk end");
            }
        } else if (content_length >= 0) {
            co_await consume_body(content_length);
            body_bytes = content_length;
        } else {
            throw std::runtime_error("response without Content-Length or chunked framing");
        }
        if (failure.empty() && o.expect_size >= 0 && body_bytes != o.expect_size)
            failure = "body of " + std::to_string(body_bytes) + " bytes (expected " +
                      std::to_string(o.expect_size) + ")";
        if (failure.empty() && o.have_expect_body && body_ != o.expect_body)
            failure = "body differs from --expect-body-file";
        reusable = !close;
        co_return failure;
    }

    void close() {
        boost::system::error_code ec;
        socket_.close(ec);
        tls_.reset();
    }

    // HTTP/2 (--h2 N): N requests in flight on this connection, each followed by the next as
    // soon as its stream closes, until the window ends. The first request was claimed by the
    // caller. Every response is checked like an HTTP/1.1 one.
    net::awaitable<void> h2_run(ThreadStats& stats);

  private:
    net::awaitable<void> write(const std::string& data) {
        if (tls_) {
            co_await net::async_write(*tls_, net::buffer(data), net::use_awaitable);
        } else {
            co_await net::async_write(socket_, net::buffer(data), net::use_awaitable);
        }
    }

    net::awaitable<void> fill() {
        if (begin_ == end_) {
            begin_ = end_ = 0;
        } else if (end_ == buffer_.size()) {
            std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (end_ == buffer_.size()) throw std::runtime_error("buffer full");
        auto space = net::buffer(buffer_.data() + end_, buffer_.size() - end_);
        std::size_t n = tls_ ? co_await tls_->async_read_some(space, net::use_awaitable)
                             : co_await socket_.async_read_some(space, net::use_awaitable);
        end_ += n;
    }

    std::size_t find_head_end() const {
        std::string_view view(buffer_.data() + begin_, end_ - begin_);
        auto p = view.find("\r\n\r\n");
        return p == std::string_view::npos ? std::string::npos : begin_ + p;
    }

    net::awaitable<std::string> read_line() {
        for (;;) {
            std::string_view view(buffer_.data() + begin_, end_ - begin_);
            auto p = view.find("\r\n");
            if (p != std::string_view::npos) {
                std::string line(view.substr(0, p));
                begin_ += p + 2;
                co_return line;
            }
            if (view.size() > 8192) throw std::runtime_error("line too long");
            co_await fill();
        }
    }

    net::awaitable<void> consume_body(long n) {
        const bool keep = shared_.options.have_expect_body;
        while (n > 0) {
            if (begin_ == end_) co_await fill();
            long take = std::min<long>(n, static_cast<long>(end_ - begin_));
            if (keep) body_.append(buffer_.data() + begin_, static_cast<std::size_t>(take));
            begin_ += static_cast<std::size_t>(take);
            n -= take;
        }
    }

    net::io_context& io_;
    Shared& shared_;
    tcp::socket socket_;
    std::unique_ptr<ssl::stream<tcp::socket&>> tls_;
    std::vector<char> buffer_ = std::vector<char>(32 * 1024);
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
    std::string body_;
};

bool claim_request(Shared& shared);
void record(Shared& shared, ThreadStats& stats, Clock::time_point t0, Clock::time_point t1,
            long body_bytes);

struct H2Stream {
    Clock::time_point t0;
    int status = 0;
    long bytes = 0;
    std::vector<bool> seen;
    std::string body;
};

struct H2State {
    Shared& shared;
    ThreadStats& stats;
    std::vector<std::pair<std::string, std::string>> fields;  // the request's header fields
    std::vector<nghttp2_nv> nva;
    std::unordered_map<std::int32_t, H2Stream> streams;
    std::string fatal;  // a submit that failed

    H2State(Shared& s, ThreadStats& st) : shared(s), stats(st) {
        const Options& o = s.options;
        std::string authority = o.host;
        if (authority.find(':') != std::string::npos) authority = "[" + authority + "]";
        if (o.port != 443) authority += ":" + std::to_string(o.port);
        fields = {{":method", "GET"},
                  {":scheme", "https"},
                  {":authority", authority},
                  {":path", o.path},
                  {"user-agent", "cloakroom-loadgen"},
                  {"accept", "*/*"}};
        for (const auto& h : o.headers) {
            const auto colon = h.find(':');
            if (colon == std::string::npos) continue;
            fields.emplace_back(lower(trim(std::string_view(h).substr(0, colon))),
                                std::string(trim(std::string_view(h).substr(colon + 1))));
        }
        for (auto& [name, value] : fields) {
            nva.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(name.data()),
                                     reinterpret_cast<std::uint8_t*>(value.data()), name.size(),
                                     value.size(), NGHTTP2_NV_FLAG_NONE});
        }
    }

    void submit(nghttp2_session* session) {
        const std::int32_t id =
            nghttp2_submit_request(session, nullptr, nva.data(), nva.size(), nullptr, nullptr);
        if (id < 0) {
            fatal = std::string("submit: ") + nghttp2_strerror(id);
            return;
        }
        H2Stream& stream = streams[id];
        stream.t0 = Clock::now();
        stream.seen.assign(shared.options.expect_headers.size(), false);
    }

    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                         std::size_t name_size, const std::uint8_t* value, std::size_t value_size,
                         std::uint8_t, void* user) {
        auto& self = *static_cast<H2State*>(user);
        auto at = self.streams.find(frame->hd.stream_id);
        if (at == self.streams.end()) return 0;
        const std::string_view n(reinterpret_cast<const char*>(name), name_size);
        const std::string_view v(reinterpret_cast<const char*>(value), value_size);
        if (n == ":status") std::from_chars(v.data(), v.data() + v.size(), at->second.status);
        const auto& expect = self.shared.options.expect_headers;
        for (std::size_t i = 0; i < expect.size(); ++i) {
            if (expect[i].first == n && expect[i].second == v) at->second.seen[i] = true;
        }
        return 0;
    }

    static int on_data(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                       const std::uint8_t* data, std::size_t size, void* user) {
        auto& self = *static_cast<H2State*>(user);
        auto at = self.streams.find(stream_id);
        if (at == self.streams.end()) return 0;
        at->second.bytes += static_cast<long>(size);
        if (self.shared.options.have_expect_body)
            at->second.body.append(reinterpret_cast<const char*>(data), size);
        return 0;
    }

    static int on_close(nghttp2_session* session, std::int32_t stream_id, std::uint32_t error,
                        void* user) {
        auto& self = *static_cast<H2State*>(user);
        auto at = self.streams.find(stream_id);
        if (at == self.streams.end()) return 0;
        const auto t1 = Clock::now();
        const H2Stream& s = at->second;
        const Options& o = self.shared.options;
        std::string failure;
        if (error != NGHTTP2_NO_ERROR) {
            failure = std::string("stream reset: ") + nghttp2_http2_strerror(error);
        } else if (s.status != o.expect_status) {
            failure = "status " + std::to_string(s.status) + " (expected " +
                      std::to_string(o.expect_status) + ")";
        } else if (o.expect_size >= 0 && s.bytes != o.expect_size) {
            failure = "body of " + std::to_string(s.bytes) + " bytes (expected " +
                      std::to_string(o.expect_size) + ")";
        } else if (o.have_expect_body && s.body != o.expect_body) {
            failure = "body differs from --expect-body-file";
        }
        for (std::size_t i = 0; i < s.seen.size() && failure.empty(); ++i) {
            if (!s.seen[i])
                failure = "header '" + o.expect_headers[i].first + ": " +
                          o.expect_headers[i].second + "' missing";
        }
        if (failure.empty()) {
            record(self.shared, self.stats, s.t0, t1, s.bytes);
        } else {
            self.shared.error(failure);
        }
        self.streams.erase(at);
        if (claim_request(self.shared)) self.submit(session);
        return 0;
    }
};

net::awaitable<void> Connection::h2_run(ThreadStats& stats) {
    H2State state(shared_, stats);
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &H2State::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &H2State::on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &H2State::on_close);
    nghttp2_session* raw = nullptr;
    const int created = nghttp2_session_client_new(&raw, callbacks, &state);
    nghttp2_session_callbacks_del(callbacks);
    if (created != 0) throw std::runtime_error("nghttp2_session_client_new failed");
    std::unique_ptr<nghttp2_session, decltype(&nghttp2_session_del)> session(raw,
                                                                             nghttp2_session_del);
    const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
                                               {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    nghttp2_submit_settings(session.get(), NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(session.get(), NGHTTP2_FLAG_NONE, 0, 16 << 20);
    state.submit(session.get());  // claimed by the caller
    for (int i = 1; i < shared_.options.h2_streams && claim_request(shared_); ++i)
        state.submit(session.get());
    std::string out;
    std::vector<std::uint8_t> in(64 * 1024);
    for (;;) {
        if (!state.fatal.empty()) throw std::runtime_error(state.fatal);
        out.clear();
        for (;;) {
            const std::uint8_t* data = nullptr;
            const auto n = nghttp2_session_mem_send(session.get(), &data);
            if (n < 0) throw std::runtime_error(nghttp2_strerror(static_cast<int>(n)));
            if (n == 0) break;
            out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
        }
        if (!out.empty()) co_await write(out);
        if (state.streams.empty()) break;
        const std::size_t n = co_await tls_->async_read_some(net::buffer(in), net::use_awaitable);
        const auto fed = nghttp2_session_mem_recv(session.get(), in.data(), n);
        if (fed < 0) throw std::runtime_error(nghttp2_strerror(static_cast<int>(fed)));
    }
}

bool claim_request(Shared& shared) {
    if (shared.stop.load(std::memory_order_relaxed)) return false;
    long limit = shared.options.max_requests;
    if (limit > 0 && shared.started.fetch_add(1) >= limit) return false;
    if (limit == 0 && Clock::now() >= shared.window_end) return false;
    return true;
}

void record(Shared& shared, ThreadStats& stats, Clock::time_point t0, Clock::time_point t1,
            long body_bytes) {
    shared.total_ok.fetch_add(1, std::memory_order_relaxed);
    if (t1 >= shared.window_start && t1 < shared.window_end) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
        stats.latencies_ns_div16.push_back(
            static_cast<std::uint32_t>(std::min<long long>(ns / 16, 0xffffffffLL)));
        ++stats.window_ok;
        stats.window_bytes += body_bytes;
    }
}

net::awaitable<void> h2_load_loop(net::io_context& io, Shared& shared, ThreadStats& stats) {
    Connection conn(io, shared);
    while (claim_request(shared)) {
        bool opened = false;
        try {
            co_await conn.open();
            opened = true;
            co_await conn.h2_run(stats);
        } catch (const std::exception& e) {
            shared.error(std::string(opened ? "h2: " : "connect: ") + e.what());
        }
        conn.close();
        if (shared.total_errors.load(std::memory_order_relaxed) > 1000) shared.stop = true;
    }
}

net::awaitable<void> load_loop(net::io_context& io, Shared& shared, ThreadStats& stats) {
    Connection conn(io, shared);
    const bool keepalive = shared.options.keepalive;
    while (claim_request(shared)) {
        auto t0 = Clock::now();
        bool opened = false;
        try {
            co_await conn.open();
            opened = true;
            bool first = true;
            for (;;) {
                if (!first && !claim_request(shared)) break;
                if (!first || keepalive) t0 = Clock::now();
                first = false;
                bool reusable = false;
                long body_bytes = 0;
                std::string failure = co_await conn.exchange(reusable, body_bytes);
                auto t1 = Clock::now();
                if (!failure.empty()) {
                    shared.error(failure);
                } else {
                    record(shared, stats, t0, t1, body_bytes);
                }
                if (!keepalive || !reusable) break;
            }
        } catch (const std::exception& e) {
            shared.error(std::string(opened ? "request: " : "connect: ") + e.what());
        }
        conn.close();
        if (shared.total_errors.load(std::memory_order_relaxed) > 1000) shared.stop = true;
    }
}

net::awaitable<void> idle_loop(net::io_context& io, Shared& shared,
                               std::vector<std::unique_ptr<Connection>>& mine, std::size_t first,
                               std::size_t step) {
    for (std::size_t i = first; i < mine.size(); i += step) {
        try {
            co_await mine[i]->open();
            bool reusable = false;
            long body_bytes = 0;
            std::string failure = co_await mine[i]->exchange(reusable, body_bytes);
            if (!failure.empty() || !reusable)
                throw std::runtime_error(failure.empty() ? "server closed" : failure);
            shared.idle_ready.fetch_add(1);
        } catch (const std::exception& e) {
            shared.error(std::string("idle setup: ") + e.what());
            shared.idle_failed.fetch_add(1);
        }
    }
    (void)io;
}

std::string build_request(const Options& o) {
    std::string host = o.host;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    if ((o.tls && o.port != 443) || (!o.tls && o.port != 80)) host += ":" + std::to_string(o.port);
    std::string r = "GET " + o.path + " HTTP/1.1\r\nHost: " + host +
                    "\r\nUser-Agent: cloakroom-loadgen\r\nAccept: */*\r\n";
    for (const auto& h : o.headers) r += h + "\r\n";
    r += "\r\n";
    return r;
}

double percentile(const std::vector<std::uint32_t>& sorted, double q) {
    if (sorted.empty()) return 0;
    auto index = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
    return static_cast<double>(sorted[std::min(index, sorted.size() - 1)]) * 16.0 / 1000.0;
}

std::string json_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

double client_cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto tv = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return tv(usage.ru_utime) + tv(usage.ru_stime);
}

void raise_fd_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options o = parse_options(argc, argv);
    raise_fd_limit();

    ssl::context tls_context(ssl::context::tls_client);
    SSL_CTX* ctx = tls_context.native_handle();
    if (o.tls) {
        if (!o.cafile.empty()) {
            if (SSL_CTX_load_verify_file(ctx, o.cafile.c_str()) != 1) usage("cannot load --cacert");
        } else {
            SSL_CTX_set_default_verify_paths(ctx);
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        // Every new connection is a full handshake: no session cache, no tickets.
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
        static const unsigned char alpn_h2[] = {2, 'h', '2'};
        if (o.h2_streams > 0) {
            SSL_CTX_set_alpn_protos(ctx, alpn_h2, sizeof alpn_h2);
        } else {
            SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn);
        }
    }

    Shared shared(o);
    shared.tls_context = &tls_context;
    shared.request = build_request(o);

    const int nthreads = o.threads;
    std::vector<std::unique_ptr<net::io_context>> ios;
    std::vector<ThreadStats> stats(static_cast<std::size_t>(nthreads));
    for (int t = 0; t < nthreads; ++t) ios.push_back(std::make_unique<net::io_context>(1));

    const auto start = Clock::now();
    auto seconds = [](double s) {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    };

    // ---------------------------------------------------------------- idle (memory) mode
    if (o.idle > 0) {
        shared.window_start = start;
        shared.window_end = Clock::time_point::max();
        const ProcSample before = sample_pids(o.pids);
        std::vector<std::vector<std::unique_ptr<Connection>>> conns(ios.size());
        for (int i = 0; i < o.idle; ++i) {
            auto t = static_cast<std::size_t>(i % nthreads);
            conns[t].push_back(std::make_unique<Connection>(*ios[t], shared));
        }
        const std::size_t per_thread_parallel =
            static_cast<std::size_t>(std::max(1, o.setup_parallel / nthreads));
        for (std::size_t t = 0; t < ios.size(); ++t) {
            for (std::size_t k = 0; k < per_thread_parallel; ++k)
                net::co_spawn(*ios[t], idle_loop(*ios[t], shared, conns[t], k, per_thread_parallel),
                              net::detached);
        }
        std::vector<std::thread> workers;
        for (auto& io : ios) workers.emplace_back([&io] { io->run(); });
        for (auto& w : workers) w.join();  // returns once every connection is set up and idle
        const double setup_seconds = std::chrono::duration<double>(Clock::now() - start).count();
        std::this_thread::sleep_for(seconds(o.settle));
        const ProcSample after = sample_pids(o.pids);
        const int ready = shared.idle_ready.load();
        const double per_conn =
            ready > 0 ? static_cast<double>(after.rss_kb - before.rss_kb) * 1024.0 / ready : 0.0;
        std::printf(
            "{\"mode\":\"idle\",\"connections\":%d,\"ready\":%d,\"failed\":%d,"
            "\"setup_seconds\":%.3f,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,"
            "\"bytes_per_conn\":%.0f,\"proxy_peak_rss_kb\":%ld,\"errors\":%ld,\"error_samples\":[",
            o.idle, ready, shared.idle_failed.load(), setup_seconds, before.rss_kb, after.rss_kb,
            per_conn, after.rss_kb, shared.total_errors.load());
        for (std::size_t i = 0; i < shared.error_samples.size(); ++i)
            std::printf("%s\"%s\"", i ? "," : "", json_escape(shared.error_samples[i]).c_str());
        std::printf("]}\n");
        std::fflush(stdout);
        std::_Exit(ready == o.idle ? 0 : 1);  // closes every connection at once
    }

    // ---------------------------------------------------------------- load mode
    if (o.max_requests > 0) {
        shared.window_start = start;
        shared.window_end = Clock::time_point::max();
    } else {
        shared.window_start = start + seconds(o.warmup);
        shared.window_end = shared.window_start + seconds(o.duration);
    }
    for (int i = 0; i < o.connections; ++i) {
        auto t = static_cast<std::size_t>(i % nthreads);
        if (o.h2_streams > 0) {
            net::co_spawn(*ios[t], h2_load_loop(*ios[t], shared, stats[t]), net::detached);
        } else {
            net::co_spawn(*ios[t], load_loop(*ios[t], shared, stats[t]), net::detached);
        }
    }
    std::vector<std::thread> workers;
    for (std::size_t t = 0; t < ios.size(); ++t) workers.emplace_back([&ios, t] { ios[t]->run(); });

    // Accounting thread: CPU at the window edges, RSS peak every 50 ms inside it.
    ProcSample cpu_start;
    ProcSample cpu_end;
    long peak_rss = 0;
    double client_cpu_start = 0;
    double client_cpu_end = 0;
    if (o.max_requests == 0) {
        std::this_thread::sleep_until(shared.window_start);
        cpu_start = sample_pids(o.pids);
        client_cpu_start = client_cpu_seconds();
        peak_rss = cpu_start.rss_kb;
        while (Clock::now() < shared.window_end) {
            auto wake = std::min(shared.window_end, Clock::now() + std::chrono::milliseconds(50));
            std::this_thread::sleep_until(wake);
            peak_rss = std::max(peak_rss, sample_pids(o.pids).rss_kb);
        }
        cpu_end = sample_pids(o.pids);
        client_cpu_end = client_cpu_seconds();
        // In-flight requests finish on their own; a stuck one is cut off after a grace period.
        const auto grace = Clock::now() + std::chrono::seconds(10);
        while (Clock::now() < grace) {
            bool all_stopped = true;
            for (auto& io : ios) all_stopped = all_stopped && io->stopped();
            if (all_stopped) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        shared.stop = true;
        for (auto& io : ios) io->stop();
    } else {
        // --requests: a check, not a measurement; give up on a proxy that never answers.
        const auto limit = Clock::now() + std::chrono::seconds(30);
        for (;;) {
            bool all_stopped = true;
            for (auto& io : ios) all_stopped = all_stopped && io->stopped();
            if (all_stopped) break;
            if (Clock::now() > limit) {
                shared.error("timed out after 30 s");
                for (auto& io : ios) io->stop();
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    for (auto& w : workers) w.join();

    std::vector<std::uint32_t> all;
    long window_ok = 0;
    long window_bytes = 0;
    for (auto& s : stats) {
        all.insert(all.end(), s.latencies_ns_div16.begin(), s.latencies_ns_div16.end());
        window_ok += s.window_ok;
        window_bytes += s.window_bytes;
    }
    std::sort(all.begin(), all.end());
    const double window_seconds = o.max_requests > 0
                                      ? std::chrono::duration<double>(Clock::now() - start).count()
                                      : o.duration;
    const double proxy_cpu = cpu_end.cpu_seconds - cpu_start.cpu_seconds;
    const double proxy_sys = cpu_end.sys_seconds - cpu_start.sys_seconds;
    const double client_cpu = client_cpu_end - client_cpu_start;
    double mean = 0;
    for (auto v : all) mean += static_cast<double>(v) * 16.0 / 1000.0;
    if (!all.empty()) mean /= static_cast<double>(all.size());

    std::printf(
        "{\"mode\":\"%s\",\"connections\":%d,\"threads\":%d,\"duration\":%.3f,\"requests\":%ld,"
        "\"total_requests\":%ld,\"errors\":%ld,\"rps\":%.1f,\"mbytes_per_s\":%.2f,"
        "\"mean_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
        "\"max_us\":%.1f,\"proxy_cpu_s\":%.3f,\"proxy_sys_s\":%.3f,\"proxy_cpu_us_per_req\":%.2f,"
        "\"proxy_peak_rss_kb\":%ld,\"client_cpu_s\":%.3f,\"error_samples\":[",
        o.h2_streams > 0 ? "h2" : (o.keepalive ? "keepalive" : "new-conn"), o.connections, nthreads,
        window_seconds, window_ok, shared.total_ok.load(), shared.total_errors.load(),
        static_cast<double>(window_ok) / window_seconds,
        static_cast<double>(window_bytes) / window_seconds / 1e6, mean, percentile(all, 0.50),
        percentile(all, 0.90), percentile(all, 0.99), percentile(all, 0.999),
        all.empty() ? 0.0 : static_cast<double>(all.back()) * 16.0 / 1000.0, proxy_cpu, proxy_sys,
        window_ok > 0 ? proxy_cpu * 1e6 / static_cast<double>(window_ok) : 0.0, peak_rss,
        client_cpu);
    for (std::size_t i = 0; i < shared.error_samples.size(); ++i)
        std::printf("%s\"%s\"", i ? "," : "", json_escape(shared.error_samples[i]).c_str());
    std::printf("]}\n");
    std::fflush(stdout);
    const bool failed = shared.total_errors.load() > 0 || window_ok == 0;
    std::_Exit(failed ? 1 : 0);
}
