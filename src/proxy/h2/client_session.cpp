#include "proxy/h2/client_session.hpp"

#include <algorithm>
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
    ClientHandler* handler = &static_cast<ClientSession*>(user_data)->handler();
    bool eof = false;
    bool trailers = false;
    const long n = handler->read_request(stream_id, buf, length, eof, trailers);
    if (n < 0) return n;
    if (eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (trailers) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return n;
}

}  // namespace

ClientSession::ClientSession(ClientHandler& handler, const http::HeadLimits& limits)
    : handler_(handler) {
    Callbacks cb;
    Options opt;
    if (cb.callbacks == nullptr || opt.option == nullptr) return;
    nghttp2_session_callbacks_set_on_header_callback(cb.callbacks, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb.callbacks, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb.callbacks, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb.callbacks, on_stream_close);
    nghttp2_option_set_no_auto_window_update(opt.option, 1);
    nghttp2_option_set_max_continuations(opt.option, 8);
    nghttp2_option_set_max_settings(opt.option, 32);
    nghttp2_option_set_max_outbound_ack(opt.option, 1000);
    nghttp2_option_set_peer_max_concurrent_streams(opt.option, 100);
    nghttp2_option_set_max_send_header_block_length(opt.option, 64 * 1024);
    if (nghttp2_session_client_new2(&session_, cb.callbacks, this, opt.option) != 0) {
        session_ = nullptr;
        return;
    }
    const std::array<nghttp2_settings_entry, 3> settings{{
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(kUpstreamStreamWindow)},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(limits.max_head_bytes)},
    }};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                          kUpstreamStreamWindow * kUpstreamWindowStreams);
}

ClientSession::~ClientSession() {
    if (session_ != nullptr) nghttp2_session_del(session_);
}

bool ClientSession::receive(std::string_view bytes) {
    if (session_ == nullptr) return false;
    const ssize_t rv = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (rv < 0) {
        const bool flood = rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS ||
                           rv == NGHTTP2_ERR_TOO_MANY_SETTINGS;
        terminate(flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
        return false;
    }
    return nghttp2_session_want_read(session_) != 0;
}

std::string_view ClientSession::next_output() {
    if (session_ == nullptr) return {};
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) return {};
    return text(data, static_cast<std::size_t>(n));
}

bool ClientSession::wants_io() const {
    return session_ != nullptr &&
           (nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0);
}

void ClientSession::terminate(std::uint32_t error_code) {
    if (session_ != nullptr) nghttp2_session_terminate_session(session_, error_code);
}

std::int32_t ClientSession::submit_request(const HeaderList& head, bool has_body) {
    if (session_ == nullptr) return -1;
    nghttp2_data_provider provider{};
    provider.read_callback = read_callback;
    return nghttp2_submit_request(session_, nullptr, head.data(), head.size(),
                                  has_body ? &provider : nullptr, nullptr);
}

void ClientSession::submit_trailers(std::int32_t stream_id, const HeaderList& trailers) {
    if (session_ != nullptr) {
        nghttp2_submit_trailer(session_, stream_id, trailers.data(), trailers.size());
    }
}

void ClientSession::resume(std::int32_t stream_id) {
    if (session_ != nullptr) nghttp2_session_resume_data(session_, stream_id);
}

void ClientSession::consumed(std::int32_t stream_id, std::size_t n) {
    if (session_ == nullptr || n == 0) return;
    nghttp2_session_consume_connection(session_, n);
    nghttp2_session_consume_stream(session_, stream_id, n);
}

void ClientSession::reset(std::int32_t stream_id, std::uint32_t error_code) {
    if (session_ != nullptr) {
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, error_code);
    }
}

std::uint32_t ClientSession::max_concurrent_streams() const {
    if (session_ == nullptr) return 0;
    return std::min<std::uint32_t>(
        nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
        1000);
}

bool ClientSession::connect_protocol() const {
    return session_ != nullptr && nghttp2_session_get_remote_settings(
                                      session_, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1;
}

int ClientSession::on_header(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                             const std::uint8_t* name, std::size_t namelen,
                             const std::uint8_t* value, std::size_t valuelen,
                             std::uint8_t /*flags*/, void* user_data) {
    auto* self = static_cast<ClientSession*>(user_data);
    if (frame->hd.type == NGHTTP2_HEADERS) {
        self->handler_.on_field(frame->hd.stream_id, text(name, namelen), text(value, valuelen));
    }
    return 0;
}

int ClientSession::on_frame_recv(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                                 void* user_data) {
    auto* self = static_cast<ClientSession*>(user_data);
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (frame->hd.type) {
        case NGHTTP2_HEADERS:
            self->handler_.on_headers_end(frame->hd.stream_id, end_stream);
            break;
        case NGHTTP2_DATA:
            if (end_stream) self->handler_.on_end(frame->hd.stream_id);
            break;
        case NGHTTP2_GOAWAY:
            self->handler_.on_goaway(frame->goaway.last_stream_id);
            break;
        case NGHTTP2_SETTINGS:
            if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) self->handler_.on_settings();
            break;
        default:
            break;
    }
    return 0;
}

int ClientSession::on_data_chunk(nghttp2_session* /*session*/, std::uint8_t /*flags*/,
                                 std::int32_t stream_id, const std::uint8_t* data, std::size_t len,
                                 void* user_data) {
    static_cast<ClientSession*>(user_data)->handler_.on_data(stream_id, text(data, len));
    return 0;
}

int ClientSession::on_stream_close(nghttp2_session* /*session*/, std::int32_t stream_id,
                                   std::uint32_t error_code, void* user_data) {
    static_cast<ClientSession*>(user_data)->handler_.on_stream_close(stream_id, error_code);
    return 0;
}

}  // namespace cloakroom::proxy::h2
