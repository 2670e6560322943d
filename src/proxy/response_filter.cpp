#include "proxy/response_filter.hpp"

#include <algorithm>
#include <cstring>

#include <openssl/crypto.h>

#include "util/ascii.hpp"

namespace cloakroom::proxy {
namespace {

// Boost's error_category has a protected non-virtual destructor (categories are never deleted
// through a base pointer), which -Wnon-virtual-dtor still reports.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class BodyDecodeCategory final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "cloakroom.body_decode"; }
    std::string message(int value) const override {
        switch (static_cast<BodyDecodeError>(value)) {
            case BodyDecodeError::corrupt:
                return "the upstream's compressed body is corrupt or truncated";
            case BodyDecodeError::bomb:
                return "the upstream's compressed body expands past the limit (decompression "
                       "bomb)";
            case BodyDecodeError::grpc_compressed:
                return "the upstream sent a compressed gRPC message, which cannot be redacted";
        }
        return "body decoding failed";
    }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& body_decode_category() {
    static const BodyDecodeCategory category;
    return category;
}

boost::system::error_code make_error_code(BodyDecodeError error) {
    return {static_cast<int>(error), body_decode_category()};
}

ResponseFilter::~ResponseFilter() {
    if (!decoded_.empty()) OPENSSL_cleanse(decoded_.data(), decoded_.size());
}

boost::system::error_code ResponseFilter::feed(std::string_view piece, bool last,
                                               std::string& out) {
    std::string_view plain = piece;
    if (decoder_) {
        // Decoded bytes are plain text that may hold the secret: wiped before the scratch is
        // reused.
        if (!decoded_.empty()) OPENSSL_cleanse(decoded_.data(), decoded_.size());
        decoded_.clear();
        http::BodyDecoder::Status status = decoder_->feed(piece, decoded_);
        if (status == http::BodyDecoder::Status::Ok && last) status = decoder_->finish(decoded_);
        if (status == http::BodyDecoder::Status::Bomb) return BodyDecodeError::bomb;
        if (status == http::BodyDecoder::Status::Corrupt) return BodyDecodeError::corrupt;
        plain = decoded_;
    }
    if (redactor_ && grpc_) {
        if (auto ec = feed_grpc(plain, out)) return ec;
        if (last) redactor_->finish(out);
    } else if (redactor_) {
        redactor_->feed(plain, out);
        if (last) redactor_->finish(out);
    } else {
        out.append(plain);
    }
    return {};
}

boost::system::error_code ResponseFilter::filter(std::span<char> piece, bool last,
                                                 std::string& scratch, std::string_view& out) {
    scratch.clear();
    if (redactor_ && !decoder_ && !grpc_) {
        const std::size_t n = redactor_->feed_in_place(piece, scratch, last);
        if (scratch.empty()) {
            out = std::string_view(piece.data(), n);
        } else {
            scratch.append(piece.data(), n);
            out = scratch;
        }
        return {};
    }
    if (auto ec = feed(std::string_view(piece.data(), piece.size()), last, scratch)) return ec;
    out = scratch;
    return {};
}

boost::system::error_code ResponseFilter::feed_grpc(std::string_view plain, std::string& out) {
    GrpcCursor& cursor = *grpc_;
    while (!plain.empty()) {
        if (cursor.header_have < sizeof(cursor.header)) {
            const std::size_t take =
                std::min(plain.size(), sizeof(cursor.header) - cursor.header_have);
            std::memcpy(cursor.header + cursor.header_have, plain.data(), take);
            cursor.header_have += take;
            redactor_->feed(plain.substr(0, take), out);
            plain.remove_prefix(take);
            if (cursor.header_have < sizeof(cursor.header)) break;
            if ((cursor.header[0] & 1) != 0) return BodyDecodeError::grpc_compressed;
            cursor.payload_left = (std::uint64_t{cursor.header[1]} << 24) |
                                  (std::uint64_t{cursor.header[2]} << 16) |
                                  (std::uint64_t{cursor.header[3]} << 8) | cursor.header[4];
        }
        const std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(plain.size(), cursor.payload_left));
        redactor_->feed(plain.substr(0, take), out);
        plain.remove_prefix(take);
        cursor.payload_left -= take;
        if (cursor.payload_left == 0) {
            // The message is complete: nothing of it waits for the next one.
            redactor_->finish(out);
            redactor_->reset();
            cursor.header_have = 0;
        }
    }
    return {};
}

std::optional<runtime::Refusal> prepare_response_filter(const CompiledNeedles& needles,
                                                        http::Head& response,
                                                        std::optional<ResponseFilter>& filter) {
    if (needles.empty()) return std::nullopt;
    std::optional<Redactor> redactor(needles.redactor());
    // Every Content-Encoding field, in order, as one list.
    std::string codings_text;
    bool encoded = false;
    for (const http::HeadField& field : response.fields()) {
        if (!ascii_iequals(field.name, "Content-Encoding")) continue;
        encoded = true;
        if (!codings_text.empty()) codings_text += ',';
        codings_text += field.value;
    }
    if (!encoded) {
        filter.emplace(std::move(redactor), std::nullopt);
        if (ascii_iequals(response["Content-Type"].substr(0, 16), "application/grpc")) {
            filter->grpc_messages();
        }
        return std::nullopt;
    }
    auto codings = http::parse_content_encoding(codings_text);
    // The reasons name no coding: the field is the upstream's text, which may echo anything.
    if (!codings) {
        return runtime::Refusal{502, "upstream_bad_response",
                                "the upstream's response uses a content coding Cloakroom cannot "
                                "decode, so it could not be redacted; not relayed"};
    }
    if (codings->empty()) {  // only "identity"
        response.erase("Content-Encoding");
        filter.emplace(std::move(redactor), std::nullopt);
        return std::nullopt;
    }
    if (response.status() == 206) {
        return runtime::Refusal{502, "upstream_bad_response",
                                "the upstream answered a byte range of a compressed body, which "
                                "cannot be decoded to be redacted; not relayed"};
    }
    response.erase("Content-Encoding");
    response.erase("Content-Length");
    const std::string_view etag = response["ETag"];
    if (etag.starts_with('"')) response.set("ETag", "W/" + std::string(etag));
    // A body (anything but 204, 304 and the answer to HEAD, which the relays know) goes out
    // re-chunked; the relays frame it (a Transfer-Encoding the upstream sent stays).
    if (!response.chunked() && response.status() != 204 && response.status() != 304) {
        response.set("Transfer-Encoding", "chunked");
    }
    filter.emplace(std::move(redactor), http::BodyDecoder(*codings));
    return std::nullopt;
}

}  // namespace cloakroom::proxy
