// libFuzzer target for the WebSocket frame filter (src/proxy/websocket_redaction.*, docs/
// architecture.md, "The two-way pump"). Beyond "no crash": the output must not depend on how the
// server's bytes were split into reads; and when the filter did not stop, the output must parse
// back into frames with the input's headers and lengths, and no data message or control frame
// of it may contain the needle.
//
// Input layout: byte 0 seeds the read sizes; the rest is what the server sends. The needle is
// fixed and short, from a small alphabet, so that frames echoing it are easy to reach.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/websocket.hpp"
#include "proxy/websocket_redaction.hpp"
#include "secrets/redactor.hpp"

namespace {

using namespace cloakroom;
namespace ws = http::ws;
constexpr std::string_view kNeedle = "abcab";

void require(bool condition) {
    if (!condition) std::abort();
}

std::string run(std::string_view input, std::uint8_t seed, bool& stopped) {
    static const secrets::CompiledNeedles needles({kNeedle});
    proxy::WebSocketRedaction filter(needles);
    std::string out;
    stopped = false;
    std::size_t at = 0;
    unsigned step_seed = seed;
    while (at < input.size()) {
        const std::size_t step = seed == 0 ? input.size() : 1 + (step_seed % 23);
        step_seed = step_seed * 131 + 7;
        if (filter.feed(input.substr(at, step), out) == runtime::PumpFilter::Verdict::Stop) {
            stopped = true;
            break;
        }
        at += step;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    bool stopped_whole = false;
    bool stopped_split = false;
    const std::string whole = run(input, 0, stopped_whole);
    const std::string split = run(input, data[0] == 0 ? 1 : data[0], stopped_split);
    require(stopped_whole == stopped_split);
    if (!stopped_whole) {
        // A complete prefix of the output is a sequence of frames; check each one.
        require(split == whole);
        std::string_view rest = whole;
        std::string message;
        while (!rest.empty()) {
            ws::FrameHeader header;
            std::string error;
            const auto status = ws::parse_frame_header(rest, header, error);
            require(status != ws::HeaderStatus::Invalid);
            if (status == ws::HeaderStatus::Incomplete) break;
            if (rest.size() < header.size + header.payload_length) break;
            const std::string_view payload = rest.substr(header.size, header.payload_length);
            if (ws::is_control(header.opcode)) {
                require(payload.find(kNeedle) == std::string_view::npos);
            } else {
                message.append(payload);
                if (header.fin) {
                    require(message.find(kNeedle) == std::string::npos);
                    message.clear();
                }
            }
            rest.remove_prefix(header.size + header.payload_length);
        }
        // An unfinished message may hold back a needle's prefix, never a whole needle.
        require(message.find(kNeedle) == std::string::npos);
    }
    return 0;
}
