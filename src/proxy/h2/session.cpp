#include "proxy/h2/session.hpp"

#include <array>

namespace cloakroom::proxy::h2 {
namespace {

std::string_view text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

struct Callbacks {
    Callbacks() { nghttp2_session_callbacks_new(&callbacks); }
    ~Callbacks() { nghttp2_session_callbacks_del(callbacks); }
    nghttp2_session_callbacks* callbacks = nullptr;
};

struct Options {
    Options() { nghttp2_option_new(&option); }
    ~Options() { nghttp2_option_del(option); }
    nghttp2_option* option = nullptr;
};

ssize_t read_callback(nghttp2_session* /*session*/, std::int32_t stream_id, std::uint8_t* buf,
                      std::size_t length, std::uint32_t* flags, nghttp2_data_source* /*source*/,
                      void* user_data) {
    SessionHandler* handler = &static_cast<ServerSession*>(user_data)->handler();
    bool eof = false;
    bool trailers = false;
    const long n = handler->read_response(stream_id, buf, length, eof, trailers);
    if (n < 0) return n;
    if (eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (trailers) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return n;
}

}  // namespace

ServerSession::ServerSession(SessionHandler& handler, const http::HeadLimits& limits)
    : handler_(handler), window_start_(std::chrono::steady_clock::now()) {
    Callbacks cb;
    Options opt;
    if (cb.callbacks == nullptr || opt.option == nullptr) return;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb.callbacks, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb.callbacks, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb.callbacks, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb.callbacks, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb.callbacks, on_stream_close);
    // Window updates follow what the upstream took, not what arrived: a slow upstream slows its
    // stream's upload instead of growing a buffer here.
    nghttp2_option_set_no_auto_window_update(opt.option, 1);
    nghttp2_option_set_max_continuations(opt.option, 8);
    nghttp2_option_set_max_settings(opt.option, 32);
    nghttp2_option_set_max_outbound_ack(opt.option, 1000);
    nghttp2_option_set_max_send_header_block_length(opt.option, 64 * 1024);
    // A backstop behind our own budget (count_control_frame).
    nghttp2_option_set_stream_reset_rate_limit(opt.option, 1000, 33);
    if (nghttp2_session_server_new2(&session_, cb.callbacks, this, opt.option) != 0) {
        session_ = nullptr;
        return;
    }
    // ENABLE_CONNECT_PROTOCOL (RFC 8441): WebSockets over HTTP/2. nghttp2 then accepts
    // `:protocol` on a CONNECT that also has `:scheme` and `:path`; the codec (codec.hpp) takes
    // `websocket` and refuses any other protocol.
    const std::array<nghttp2_settings_entry, 4> settings{{
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(kStreamWindow)},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(limits.max_head_bytes)},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
    }};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                          kStreamWindow * kConnectionWindowStreams);
}

ServerSession::~ServerSession() {
    if (session_ != nullptr) nghttp2_session_del(session_);
}

bool ServerSession::receive(std::string_view bytes) {
    if (session_ == nullptr) return false;
    const ssize_t rv = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (rv < 0) {
        // A flood (outbound acks queued by a peer that does not read, a CONTINUATION run, a
        // SETTINGS frame of too many entries) or another fatal error: say why, unless nghttp2
        // already did (a second GOAWAY is then not sent).
        const bool flood = rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS ||
                           rv == NGHTTP2_ERR_TOO_MANY_SETTINGS;
        terminate(flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
        return false;
    }
    return !calm_down_ && nghttp2_session_want_read(session_) != 0;
}

std::string_view ServerSession::next_output() {
    if (session_ == nullptr) return {};
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) return {};
    return text(data, static_cast<std::size_t>(n));
}

bool ServerSession::wants_io() const {
    return session_ != nullptr &&
           (nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0);
}

bool ServerSession::wants_read() const {
    return session_ != nullptr && !calm_down_ && nghttp2_session_want_read(session_) != 0;
}

void ServerSession::terminate(std::uint32_t error_code) {
    if (session_ != nullptr) nghttp2_session_terminate_session(session_, error_code);
}

void ServerSession::consumed(std::int32_t stream_id, std::size_t n) {
    if (session_ == nullptr || n == 0) return;
    // Connection and stream apart: the stream may be closed already (its bytes still count for
    // the connection's window).
    nghttp2_session_consume_connection(session_, n);
    nghttp2_session_consume_stream(session_, stream_id, n);
}

void ServerSession::resume(std::int32_t stream_id) {
    if (session_ != nullptr) nghttp2_session_resume_data(session_, stream_id);
}

bool ServerSession::count_control_frame(std::uint8_t type) {
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= std::chrono::seconds(1)) {
        window_start_ = now;
        resets_ = pings_ = settings_ = 0;
    }
    switch (type) {
        case NGHTTP2_RST_STREAM:
            return ++resets_ <= kMaxResetsPerSecond;
        case NGHTTP2_PING:
            return ++pings_ <= kMaxPingsPerSecond;
        case NGHTTP2_SETTINGS:
            return ++settings_ <= kMaxSettingsPerSecond;
        default:
            return true;
    }
}

int ServerSession::on_begin_headers(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                                    void* user_data) {
    auto* self = static_cast<ServerSession*>(user_data);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        self->handler_.on_request_begin(frame->hd.stream_id);
    }
    return 0;
}

int ServerSession::on_header(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                             const std::uint8_t* name, std::size_t namelen,
                             const std::uint8_t* value, std::size_t valuelen,
                             std::uint8_t /*flags*/, void* user_data) {
    auto* self = static_cast<ServerSession*>(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        self->handler_.on_request_field(frame->hd.stream_id, text(name, namelen),
                                        text(value, valuelen));
    } else if (frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
        // Trailers (nghttp2 allows a second HEADERS block only with END_STREAM).
        self->handler_.on_request_trailer(frame->hd.stream_id, text(name, namelen),
                                          text(value, valuelen));
    }
    return 0;
}

int ServerSession::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame,
                                 void* user_data) {
    auto* self = static_cast<ServerSession*>(user_data);
    const bool ack = (frame->hd.flags & NGHTTP2_FLAG_ACK) != 0;
    if (!ack && !self->count_control_frame(frame->hd.type)) {
        self->calm_down_ = true;
        nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM);
        return 0;
    }
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (frame->hd.type) {
        case NGHTTP2_HEADERS:
            if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
                self->handler_.on_request_headers(frame->hd.stream_id, end_stream);
            } else if (end_stream) {
                self->handler_.on_request_end(frame->hd.stream_id);
            }
            break;
        case NGHTTP2_DATA:
            if (end_stream) self->handler_.on_request_end(frame->hd.stream_id);
            break;
        default:
            break;
    }
    return 0;
}

int ServerSession::on_data_chunk(nghttp2_session* /*session*/, std::uint8_t /*flags*/,
                                 std::int32_t stream_id, const std::uint8_t* data, std::size_t len,
                                 void* user_data) {
    static_cast<ServerSession*>(user_data)->handler_.on_request_data(stream_id, text(data, len));
    return 0;
}

int ServerSession::on_stream_close(nghttp2_session* /*session*/, std::int32_t stream_id,
                                   std::uint32_t error_code, void* user_data) {
    static_cast<ServerSession*>(user_data)->handler_.on_stream_close(stream_id, error_code);
    return 0;
}

bool ServerSession::submit_response(std::int32_t stream_id, const HeaderList& head, bool has_body) {
    if (session_ == nullptr) return false;
    // The source carries nothing: the handler knows the stream by its id.
    nghttp2_data_provider provider{};
    provider.read_callback = read_callback;
    return nghttp2_submit_response(session_, stream_id, head.data(), head.size(),
                                   has_body ? &provider : nullptr) == 0;
}

void ServerSession::submit_continue(std::int32_t stream_id) {
    if (session_ == nullptr) return;
    HeaderList interim;
    interim.add(":status", "100");
    nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, stream_id, nullptr, interim.data(),
                           interim.size(), nullptr);
}

void ServerSession::submit_trailers(std::int32_t stream_id, const HeaderList& trailers) {
    if (session_ != nullptr) {
        nghttp2_submit_trailer(session_, stream_id, trailers.data(), trailers.size());
    }
}

void ServerSession::reset(std::int32_t stream_id, std::uint32_t error_code) {
    if (session_ != nullptr) {
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, error_code);
    }
}

}  // namespace cloakroom::proxy::h2
