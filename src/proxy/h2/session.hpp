// An nghttp2 server session, owned (RAII) and configured with the limits that stop the known
// HTTP/2 attacks (docs/architecture.md, "HTTP/2"): at most kMaxConcurrentStreams streams, a
// header list no larger than the HTTP/1.1 head limit, at most 8 CONTINUATION frames per block
// (CVE-2024-28182), SETTINGS with at most 32 entries, a bounded queue of outbound acks (a
// SETTINGS or PING flood from a peer that does not read), and a budget of RST_STREAM, PING and
// SETTINGS frames per second (rapid reset, CVE-2023-44487, and floods from a peer that does
// read): over budget, the session ends with GOAWAY ENHANCE_YOUR_CALM.
//
// No I/O: bytes go in through receive() and come out of next_output(); the events reach a
// SessionHandler. Single-threaded, like every connection here.
#pragma once

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "http/head_validator.hpp"
#include "proxy/h2/codec.hpp"

namespace cloakroom::proxy::h2 {

inline constexpr std::uint32_t kMaxConcurrentStreams = 100;
// Per stream: how much request body the agent may send ahead of what the upstream took. The
// connection's window holds kConnectionWindowStreams streams' worth, so a few slow uploads do
// not block the others, and what one connection buffers stays bounded (4 MiB).
inline constexpr std::int32_t kStreamWindow = 256 * 1024;
inline constexpr std::int32_t kConnectionWindowStreams = 16;
// Frames a peer may send per second before it is told to calm down.
inline constexpr int kMaxResetsPerSecond = 200;
inline constexpr int kMaxPingsPerSecond = 100;
inline constexpr int kMaxSettingsPerSecond = 100;

class SessionHandler {
  public:
    virtual ~SessionHandler() = default;
    // A request's HEADERS begin on a new stream.
    virtual void on_request_begin(std::int32_t stream_id) = 0;
    virtual void on_request_field(std::int32_t stream_id, std::string_view name,
                                  std::string_view value) = 0;
    // The request's header block is complete; `end_stream`: no body follows.
    virtual void on_request_headers(std::int32_t stream_id, bool end_stream) = 0;
    // A field of the request's trailers (a HEADERS block after the body).
    virtual void on_request_trailer(std::int32_t stream_id, std::string_view name,
                                    std::string_view value) = 0;
    virtual void on_request_data(std::int32_t stream_id, std::string_view data) = 0;
    virtual void on_request_end(std::int32_t stream_id) = 0;
    virtual void on_stream_close(std::int32_t stream_id, std::uint32_t error_code) = 0;
    // The response body source of the stream (nghttp2's data provider): copies at most
    // `length` bytes to `out`; sets `eof` when the body ended (and `trailers` if the stream
    // has trailers to submit after it); returns NGHTTP2_ERR_DEFERRED when nothing is ready.
    virtual long read_response(std::int32_t stream_id, std::uint8_t* out, std::size_t length,
                               bool& eof, bool& trailers) = 0;
};

class ServerSession {
  public:
    // `limits`: the HTTP/1.1 head limits, which the header list size follows.
    ServerSession(SessionHandler& handler, const http::HeadLimits& limits);
    ~ServerSession();
    ServerSession(const ServerSession&) = delete;
    ServerSession& operator=(const ServerSession&) = delete;

    bool ok() const { return session_ != nullptr; }
    nghttp2_session* native() { return session_; }

    // Feeds bytes read from the agent. False when the session must end (a protocol error, a
    // flood): a GOAWAY with the reason is queued if the peer deserves one.
    bool receive(std::string_view bytes);
    // The next bytes to send (empty when there is nothing); valid until the next call.
    std::string_view next_output();
    // Whether the session still wants to read or write (false once GOAWAY went out and every
    // stream is done, or after a fatal error).
    bool wants_io() const;
    bool wants_read() const;
    // Ends the session with GOAWAY `error_code` (queued; goes out with next_output()).
    void terminate(std::uint32_t error_code);

    // The flow-control window: `n` request body bytes of the stream were taken by the upstream.
    void consumed(std::int32_t stream_id, std::size_t n);
    // A deferred data source has bytes (or its end) ready again.
    void resume(std::int32_t stream_id);

    // The response head of a stream; its body then comes from SessionHandler::read_response
    // when `has_body`. False if nghttp2 refused it (the stream is gone).
    bool submit_response(std::int32_t stream_id, const HeaderList& head, bool has_body);
    // "100 Continue" before the request body (the agent sent expect: 100-continue).
    void submit_continue(std::int32_t stream_id);
    // Trailers, after the body's last DATA frame.
    void submit_trailers(std::int32_t stream_id, const HeaderList& trailers);
    // Resets a stream (the agent gets RST_STREAM `error_code`).
    void reset(std::int32_t stream_id, std::uint32_t error_code);

    SessionHandler& handler() { return handler_; }

    // Budget of control frames per second; false when over (the caller ends the session).
    bool count_control_frame(std::uint8_t type);

  private:
    static int on_begin_headers(nghttp2_session*, const nghttp2_frame*, void*);
    static int on_header(nghttp2_session*, const nghttp2_frame*, const std::uint8_t*, std::size_t,
                         const std::uint8_t*, std::size_t, std::uint8_t, void*);
    static int on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
    static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t, const std::uint8_t*,
                             std::size_t, void*);
    static int on_stream_close(nghttp2_session*, std::int32_t, std::uint32_t, void*);

    SessionHandler& handler_;
    nghttp2_session* session_ = nullptr;
    bool calm_down_ = false;  // a budget ran out inside a callback
    std::chrono::steady_clock::time_point window_start_;
    int resets_ = 0;
    int pings_ = 0;
    int settings_ = 0;
};

}  // namespace cloakroom::proxy::h2
