// libFuzzer target for the Redis gateway's wire code (src/db/redis): the login-phase command
// parser and its interpretation, the relay's command filter and reply rewriter, reply framing.
// Beyond "no crash":
//  - the filter's and the rewriter's output must not depend on how the input is chunked;
//  - everything the filter sends upstream is well-formed RESP arrays, and no complete command in
//    it is one the policy refuses (AUTH, HELLO AUTH, RESET, or outside the token's lists) other
//    than Cloakroom's own refusal markers;
//  - the rewriter changes nothing when it rewrote nothing (it may hold back a line's start);
//  - parse_command's arguments survive encode_command and a re-parse unchanged.
//
// Input layout: byte 0 picks the policy (low 2 bits), byte 1 seeds the chunk sizes, the rest is
// the byte stream (used as client input and as server replies).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "db/redis/commands.hpp"
#include "db/redis/filter.hpp"
#include "db/redis/handshake.hpp"
#include "db/redis/resp.hpp"

namespace {

using namespace cloakroom::db::redis;

void require(bool condition) {
    if (!condition) std::abort();
}

CommandPolicy policy_for(std::uint8_t selector) {
    switch (selector & 3) {
        case 0:
            return CommandPolicy();
        case 1:
            return CommandPolicy(std::vector<std::vector<std::string>>{{"@read"}});
        case 2:
            return CommandPolicy(std::vector<std::vector<std::string>>{
                {"GET", "CLIENT|SETNAME", "@hash", "HELLO"}, {"@all"}});
        default:
            return CommandPolicy(std::vector<std::vector<std::string>>{{}});
    }
}

// Chunk sizes 1..64 from a tiny LCG seeded by `seed`.
std::vector<std::string_view> chunks(std::string_view input, std::uint8_t seed) {
    std::vector<std::string_view> out;
    std::uint32_t state = seed * 2654435761u + 1;
    while (!input.empty()) {
        state = state * 1103515245u + 12345u;
        const std::size_t n = std::min<std::size_t>(input.size(), 1 + ((state >> 16) % 64));
        out.push_back(input.substr(0, n));
        input.remove_prefix(n);
    }
    return out;
}

CommandHead head_of(const std::vector<std::string>& args) {
    CommandHead head;
    head.argc = args.size();
    head.name.truncated = args[0].size() > kCaptureName;
    head.name.text = args[0].substr(0, kCaptureName);
    for (std::size_t j = 1; j < args.size() && j <= kMaxHelloArgs; ++j) {
        head.args.push_back(
            CapturedArg{args[j].substr(0, kCaptureArg), args[j].size() > kCaptureArg});
    }
    return head;
}

void check_upstream_stream(const CommandPolicy& policy, std::string_view upstream) {
    while (!upstream.empty()) {
        require(upstream.front() == '*');  // only RESP arrays go upstream, never inline
        const ParsedCommand parsed = parse_command(upstream, kSessionLimits);
        require(parsed.status != ParseStatus::Invalid);
        if (parsed.status == ParseStatus::Incomplete) return;  // a command still streaming
        require(!parsed.args.empty());
        upstream.remove_prefix(parsed.consumed);
        const std::string& name = parsed.args[0];
        if (name.rfind("cloakroom.refused:", 0) == 0 || name.rfind("cloakroom.closing:", 0) == 0) {
            require(parsed.args.size() == 1 && name.size() <= 128);
            continue;
        }
        require(policy.decide(head_of(parsed.args)).allow);
    }
}

void fuzz_filter(const CommandPolicy& policy, std::string_view input, std::uint8_t seed) {
    CommandFilter whole(policy);
    std::string whole_out;
    const bool whole_ok = whole.feed(input, whole_out);

    CommandFilter chunked(policy);
    std::string chunked_out;
    bool chunked_ok = true;
    for (const auto part : chunks(input, seed)) {
        chunked_ok = chunked.feed(part, chunked_out);
        if (!chunked_ok) break;
    }
    require(whole_ok == chunked_ok);
    require(whole_out == chunked_out);
    require(whole.error() == chunked.error());
    require(whole.refused() == chunked.refused());
    require(whole.commands() == chunked.commands());
    check_upstream_stream(policy, whole_out);
}

void fuzz_rewriter(std::string_view input, std::uint8_t seed) {
    ReplyRewriter whole;
    std::string whole_out;
    whole.feed(input, whole_out);
    ReplyRewriter chunked;
    std::string chunked_out;
    for (const auto part : chunks(input, seed)) chunked.feed(part, chunked_out);
    require(whole_out == chunked_out);
    require(whole.rewritten() == chunked.rewritten());
    require(whole.closing() == chunked.closing());
    require(whole.lost_framing() == chunked.lost_framing());
    if (whole.rewritten() == 0) {
        // Unchanged, except for the start of an error line held back until it is known not to
        // be a refusal (at most a line's worth), and everything after lost framing.
        require(input.substr(0, whole_out.size()) == whole_out);
        require(whole.lost_framing() || input.size() - whole_out.size() <= 513);
    }
    // With a secret: same framing, the same length, chunking does not matter, and the secret
    // never appears inside a single element of the output (it may straddle two).
    const std::string secret = "s3cr3t";
    ReplyRewriter redacting({secret});
    std::string redacted;
    for (const auto part : chunks(input, seed)) redacting.feed(part, redacted);
    require(redacting.lost_framing() == whole.lost_framing());
    require(redacted.size() == whole_out.size());
    if (whole.rewritten() == 0 && input.find(secret) == std::string_view::npos) {
        require(redacted == whole_out);
    }
}

void fuzz_login_phase(std::string_view input) {
    for (const RequestLimits& limits : {kPreAuthLimits, kSessionLimits}) {
        std::string_view rest = input;
        for (int i = 0; i < 64 && !rest.empty(); ++i) {
            const ParsedCommand parsed = parse_command(rest, limits);
            if (parsed.status != ParseStatus::Complete) break;
            require(parsed.consumed > 0 && parsed.consumed <= rest.size());
            rest.remove_prefix(parsed.consumed);
            if (parsed.args.empty()) continue;
            require(parsed.args.size() <= limits.max_args);
            const ParsedCommand again = parse_command(encode_command(parsed.args), limits);
            require(again.status == ParseStatus::Complete && again.args == parsed.args);
            const PreAuthStep step = interpret_pre_auth(parsed.args);
            if (const auto* reply = std::get_if<PreAuthReply>(&step)) {
                require(reply->bytes.size() >= 3 &&
                        reply->bytes.substr(reply->bytes.size() - 2) == "\r\n");
                require(reply->bytes.find('\n') == reply->bytes.size() - 1);
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
    const CommandPolicy policy = policy_for(data[0]);
    fuzz_filter(policy, input, data[1]);
    fuzz_rewriter(input, data[1]);
    fuzz_login_phase(input);
    const ReplyFrame frame = frame_reply(input);
    if (frame.status == ParseStatus::Complete)
        require(frame.size > 0 && frame.size <= input.size());
    std::vector<std::string> args;
    (void)split_inline(input, args);
    return 0;
}
