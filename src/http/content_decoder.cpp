#include "http/content_decoder.hpp"

#include <brotli/decode.h>
#include <openssl/crypto.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>

#include "util/ascii.hpp"

namespace cloakroom::http {

namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// Calls `each` with every trimmed, non-empty element of a comma-separated list.
template <class Each>
void for_each_element(std::string_view list, Each each) {
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        const std::string_view element = trim(list.substr(0, comma));
        if (!element.empty()) each(element);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
}

std::uint64_t cap_for(std::uint64_t bytes_in) {
    return std::max(kExpansionFloor, kMaxExpansionRatio * bytes_in);
}

}  // namespace

std::optional<ContentCoding> parse_content_coding(std::string_view token) {
    token = trim(token);
    if (ascii_iequals(token, "identity")) return ContentCoding::Identity;
    if (ascii_iequals(token, "gzip") || ascii_iequals(token, "x-gzip")) return ContentCoding::Gzip;
    if (ascii_iequals(token, "deflate")) return ContentCoding::Deflate;
    if (ascii_iequals(token, "br")) return ContentCoding::Brotli;
    if (ascii_iequals(token, "zstd")) return ContentCoding::Zstd;
    return std::nullopt;
}

std::optional<std::vector<ContentCoding>> parse_content_encoding(std::string_view value) {
    std::vector<ContentCoding> codings;
    bool unknown = false;
    for_each_element(value, [&](std::string_view element) {
        const auto coding = parse_content_coding(element);
        if (!coding) {
            unknown = true;
        } else if (*coding != ContentCoding::Identity) {
            codings.push_back(*coding);
        }
    });
    if (unknown) return std::nullopt;
    return codings;
}

std::string decodable_accept_encoding(std::optional<std::string_view> agent_value,
                                      bool range_request) {
    if (!agent_value || range_request) return "identity";
    std::string narrowed;
    for_each_element(*agent_value, [&](std::string_view element) {
        const std::string_view token = trim(element.substr(0, element.find(';')));
        const auto coding = parse_content_coding(token);
        if (!coding || *coding == ContentCoding::Identity) return;
        // The element as the agent wrote it (with its q-value), names checked above.
        if (!narrowed.empty()) narrowed += ", ";
        narrowed += element;
    });
    return narrowed.empty() ? "identity" : narrowed;
}

// One coding's decompressor. `decode` appends the decoding of `in` to `out`, keeping its own
// total output within `cap`; `last`: no more input will come.
class BodyDecoder::Stage {
  public:
    virtual ~Stage() = default;
    virtual Status decode(std::string_view in, std::string& out, bool last, std::uint64_t cap) = 0;

  protected:
    // Grows `out` by one step for the decompressor to write into; returns where.
    static char* grow(std::string& out, std::size_t& before) {
        before = out.size();
        out.resize(before + kDecodeStep);
        return out.data() + before;
    }
    std::uint64_t produced_ = 0;
};

namespace {

using Status = BodyDecoder::Status;

class ZlibStage final : public BodyDecoder::Stage {
  public:
    explicit ZlibStage(bool gzip) : gzip_(gzip) {}
    ~ZlibStage() override {
        if (initialized_) inflateEnd(&z_);
    }

    Status decode(std::string_view in, std::string& out, bool last, std::uint64_t cap) override {
        if (!initialized_) {
            // "deflate" is zlib-wrapped by the RFC, raw in some servers: the first two bytes tell.
            head_.append(in);
            if (!gzip_ && head_.size() < 2 && !last) return Status::Ok;
            int window = 15 + 16;  // gzip
            if (!gzip_) {
                const auto b0 = static_cast<unsigned char>(head_.size() > 0 ? head_[0] : 0);
                const auto b1 = static_cast<unsigned char>(head_.size() > 1 ? head_[1] : 0);
                const bool zlib_header = (b0 & 0x0F) == 8 && ((b0 << 8) | b1) % 31 == 0;
                window = zlib_header ? 15 : -15;
            }
            if (inflateInit2(&z_, window) != Z_OK) return Status::Corrupt;
            initialized_ = true;
            const std::string buffered = std::move(head_);
            return step(buffered, out, last, cap);
        }
        return step(in, out, last, cap);
    }

  private:
    Status step(std::string_view in, std::string& out, bool last, std::uint64_t cap) {
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        z_.avail_in = static_cast<uInt>(in.size());
        for (;;) {
            if (ended_) {
                if (z_.avail_in == 0) break;
                // Another gzip member follows (RFC 1952 allows several); anything else is junk.
                if (!gzip_ || inflateReset(&z_) != Z_OK) return Status::Corrupt;
                ended_ = false;
            }
            std::size_t before = 0;
            char* space = grow(out, before);
            z_.next_out = reinterpret_cast<Bytef*>(space);
            z_.avail_out = static_cast<uInt>(kDecodeStep);
            const int ret = inflate(&z_, Z_NO_FLUSH);
            const std::size_t made = kDecodeStep - z_.avail_out;
            out.resize(before + made);
            produced_ += made;
            if (produced_ > cap) return Status::Bomb;
            if (ret == Z_STREAM_END) {
                ended_ = true;
                continue;
            }
            if (ret == Z_BUF_ERROR || (ret == Z_OK && z_.avail_in == 0 && made < kDecodeStep)) {
                break;  // needs more input
            }
            if (ret != Z_OK) return Status::Corrupt;
        }
        if (last && !ended_) return Status::Corrupt;
        return Status::Ok;
    }

    bool gzip_;
    bool initialized_ = false;
    bool ended_ = false;
    std::string head_;
    z_stream z_{};
};

class BrotliStage final : public BodyDecoder::Stage {
  public:
    BrotliStage() : state_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {}
    ~BrotliStage() override {
        if (state_ != nullptr) BrotliDecoderDestroyInstance(state_);
    }

    Status decode(std::string_view in, std::string& out, bool last, std::uint64_t cap) override {
        if (state_ == nullptr) return Status::Corrupt;
        const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
        std::size_t avail_in = in.size();
        for (;;) {
            if (ended_) {
                if (avail_in > 0) return Status::Corrupt;  // bytes after the stream's end
                break;
            }
            std::size_t before = 0;
            auto* next_out = reinterpret_cast<std::uint8_t*>(grow(out, before));
            std::size_t avail_out = kDecodeStep;
            const BrotliDecoderResult result = BrotliDecoderDecompressStream(
                state_, &avail_in, &next_in, &avail_out, &next_out, nullptr);
            const std::size_t made = kDecodeStep - avail_out;
            out.resize(before + made);
            produced_ += made;
            if (produced_ > cap) return Status::Bomb;
            if (result == BROTLI_DECODER_RESULT_SUCCESS) {
                ended_ = true;
                continue;
            }
            if (result == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) break;
            if (result == BROTLI_DECODER_RESULT_ERROR) return Status::Corrupt;
        }
        if (last && !ended_) return Status::Corrupt;
        return Status::Ok;
    }

  private:
    BrotliDecoderState* state_;
    bool ended_ = false;
};

class ZstdStage final : public BodyDecoder::Stage {
  public:
    ZstdStage() : context_(ZSTD_createDCtx()) {
        // RFC 9659: an HTTP zstd window is at most 8 MiB; more would be a memory bomb.
        if (context_ != nullptr) ZSTD_DCtx_setParameter(context_, ZSTD_d_windowLogMax, 23);
    }
    ~ZstdStage() override { ZSTD_freeDCtx(context_); }

    Status decode(std::string_view in, std::string& out, bool last, std::uint64_t cap) override {
        if (context_ == nullptr) return Status::Corrupt;
        // Every feed drains its output (the loop below runs until a step is not filled), so no
        // input means nothing to do; a call would report the next frame's header as missing.
        if (in.empty()) return last && !frame_done_ ? Status::Corrupt : Status::Ok;
        ZSTD_inBuffer input{in.data(), in.size(), 0};
        for (;;) {
            std::size_t before = 0;
            char* space = grow(out, before);
            ZSTD_outBuffer output{space, kDecodeStep, 0};
            const std::size_t ret = ZSTD_decompressStream(context_, &output, &input);
            out.resize(before + output.pos);
            produced_ += output.pos;
            if (ZSTD_isError(ret)) return Status::Corrupt;
            if (produced_ > cap) return Status::Bomb;
            frame_done_ = ret == 0;
            // Done with this input once it is consumed and the output step was not filled.
            if (input.pos == input.size && output.pos < kDecodeStep) break;
        }
        if (last && !frame_done_) return Status::Corrupt;
        return Status::Ok;
    }

  private:
    ZSTD_DCtx* context_;
    bool frame_done_ = true;
};

std::unique_ptr<BodyDecoder::Stage> make_stage(ContentCoding coding) {
    switch (coding) {
        case ContentCoding::Gzip:
            return std::make_unique<ZlibStage>(true);
        case ContentCoding::Deflate:
            return std::make_unique<ZlibStage>(false);
        case ContentCoding::Brotli:
            return std::make_unique<BrotliStage>();
        case ContentCoding::Zstd:
            return std::make_unique<ZstdStage>();
        case ContentCoding::Identity:
            break;
    }
    return nullptr;
}

}  // namespace

BodyDecoder::BodyDecoder(const std::vector<ContentCoding>& codings) {
    for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
        if (auto stage = make_stage(*it)) stages_.push_back(std::move(stage));
    }
    between_.resize(stages_.size());
}

BodyDecoder::~BodyDecoder() {
    // Between stacked codings the scratch holds decoded text.
    for (std::string& scratch : between_) {
        if (!scratch.empty()) OPENSSL_cleanse(scratch.data(), scratch.size());
    }
}
BodyDecoder::BodyDecoder(BodyDecoder&&) noexcept = default;
BodyDecoder& BodyDecoder::operator=(BodyDecoder&&) noexcept = default;

BodyDecoder::Status BodyDecoder::run(std::size_t stage, std::string_view in, std::string& out,
                                     bool last) {
    const std::uint64_t cap = cap_for(bytes_in_);
    if (stage + 1 == stages_.size()) {
        const std::size_t before = out.size();
        const Status status = stages_[stage]->decode(in, out, last, cap);
        bytes_out_ += out.size() - before;
        return status;
    }
    std::string& scratch = between_[stage];
    scratch.clear();
    const Status status = stages_[stage]->decode(in, scratch, last, cap);
    if (status != Status::Ok) return status;
    return run(stage + 1, scratch, out, last);
}

BodyDecoder::Status BodyDecoder::feed(std::string_view in, std::string& out) {
    bytes_in_ += in.size();
    if (stages_.empty()) {
        out.append(in);
        bytes_out_ += in.size();
        return Status::Ok;
    }
    return run(0, in, out, false);
}

BodyDecoder::Status BodyDecoder::finish(std::string& out) {
    // An empty body has nothing to decode (a 200 with Content-Length: 0 keeps its coding name).
    if (stages_.empty() || bytes_in_ == 0) return Status::Ok;
    return run(0, {}, out, true);
}

}  // namespace cloakroom::http
