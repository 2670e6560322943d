// An nghttp2 client session towards an upstream that chose ALPN "h2" (docs/architecture.md,
// "HTTP/2"), owned (RAII). No I/O: bytes in through receive(), out of next_output(), events to
// a ClientHandler. The upstream is not trusted more than an agent: the same CONTINUATION and
// SETTINGS limits as the server side, no server push, a bounded header list.
//
// Flow control: response DATA is acknowledged (WINDOW_UPDATE) only when the stream's consumer
// took it (consumed()), so a slow agent closes its own stream's window and nothing else.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/head_validator.hpp"
#include "proxy/h2/codec.hpp"

namespace cloakroom::proxy::h2 {

// Response bytes a stream may receive ahead of what its consumer took; the connection window
// holds kUpstreamWindowStreams streams' worth.
inline constexpr std::int32_t kUpstreamStreamWindow = 256 * 1024;
inline constexpr std::int32_t kUpstreamWindowStreams = 16;

class ClientHandler {
  public:
    virtual ~ClientHandler() = default;
    // A field of a header block the upstream sent on the stream (a response head, an interim
    // head or trailers: the handler tells them apart by order).
    virtual void on_field(std::int32_t stream_id, std::string_view name,
                          std::string_view value) = 0;
    // The header block is complete; `end_stream`: nothing follows on the stream.
    virtual void on_headers_end(std::int32_t stream_id, bool end_stream) = 0;
    virtual void on_data(std::int32_t stream_id, std::string_view data) = 0;
    virtual void on_end(std::int32_t stream_id) = 0;
    virtual void on_stream_close(std::int32_t stream_id, std::uint32_t error_code) = 0;
    // The upstream sent GOAWAY: no new stream on this connection, and the streams above
    // `last_stream_id` were not processed (RFC 9113 §6.8).
    virtual void on_goaway(std::int32_t last_stream_id) = 0;
    // The upstream's SETTINGS arrived (its stream limit is known from now on).
    virtual void on_settings() {}
    // The request body source (nghttp2's data provider), like SessionHandler::read_response.
    virtual long read_request(std::int32_t stream_id, std::uint8_t* out, std::size_t length,
                              bool& eof, bool& trailers) = 0;
};

class ClientSession {
  public:
    ClientSession(ClientHandler& handler, const http::HeadLimits& limits);
    ~ClientSession();
    ClientSession(const ClientSession&) = delete;
    ClientSession& operator=(const ClientSession&) = delete;

    bool ok() const { return session_ != nullptr; }

    // Bytes read from the upstream; false when the session must end.
    bool receive(std::string_view bytes);
    std::string_view next_output();
    bool wants_io() const;
    void terminate(std::uint32_t error_code);

    // A new stream for `head` (pseudo-headers first); its body comes from
    // ClientHandler::read_request when `has_body`. Returns the stream id, or a negative value.
    std::int32_t submit_request(const HeaderList& head, bool has_body);
    void submit_trailers(std::int32_t stream_id, const HeaderList& trailers);
    void resume(std::int32_t stream_id);
    void consumed(std::int32_t stream_id, std::size_t n);
    void reset(std::int32_t stream_id, std::uint32_t error_code);
    // The upstream's SETTINGS_MAX_CONCURRENT_STREAMS (100 until it said).
    std::uint32_t max_concurrent_streams() const;
    // The upstream's SETTINGS_ENABLE_CONNECT_PROTOCOL is 1: it takes RFC 8441 extended CONNECT.
    bool connect_protocol() const;

    ClientHandler& handler() { return handler_; }

  private:
    static int on_header(nghttp2_session*, const nghttp2_frame*, const std::uint8_t*, std::size_t,
                         const std::uint8_t*, std::size_t, std::uint8_t, void*);
    static int on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
    static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t, const std::uint8_t*,
                             std::size_t, void*);
    static int on_stream_close(nghttp2_session*, std::int32_t, std::uint32_t, void*);

    ClientHandler& handler_;
    nghttp2_session* session_ = nullptr;
};

}  // namespace cloakroom::proxy::h2
