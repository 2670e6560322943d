// libFuzzer target for the PostgreSQL gateway's pure codecs. The first byte selects what the rest
// is fed to: a client startup packet (with its length word), a stream of backend messages, the
// upstream authentication state machine, or SCRAM server-first / server-final messages. Whatever
// parses must rebuild consistently, and nothing may crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "db/postgres/pg_protocol.hpp"
#include "db/postgres/pg_relay_filters.hpp"
#include "db/postgres/pg_scram.hpp"
#include "db/postgres/pg_upstream_auth.hpp"

namespace {

using namespace cloakroom::db::postgres;

void check_startup(std::string_view input) {
    if (input.size() < 4) return;
    auto length = parse_startup_length(input.substr(0, 4));
    if (!length) return;
    auto packet = parse_startup_packet(input.substr(4, *length - 4));
    if (!packet) {
        (void)sqlstate_for(packet.error());
        return;
    }
    if (const auto* message = std::get_if<StartupMessage>(&*packet)) {
        auto startup = interpret_startup(*message);
        if (message->major == 3) {
            // The rebuilt packet (always 3.0) must parse back to the same parameters.
            const std::string rebuilt = build_startup_message(message->params);
            auto again = parse_startup_packet(std::string_view(rebuilt).substr(4));
            if (!again || std::get<StartupMessage>(*again).params != message->params) std::abort();
        }
        if (startup) {
            (void)build_negotiate_protocol_version(0, startup->unrecognized_options);
            if (startup->user.empty() || startup->database.empty()) std::abort();
        }
    } else if (const auto* cancel = std::get_if<CancelRequest>(&*packet)) {
        const std::string rebuilt = build_cancel_request(*cancel);
        if (rebuilt.size() != 16) std::abort();
    }
}

void check_backend(std::string_view input) {
    while (!input.empty()) {
        auto frame = take_frame(input, 1 << 16, "upstream");
        if (!frame || !frame->has_value()) return;
        const Frame& f = **frame;
        switch (f.type) {
            case 'R': {
                auto request = parse_authentication(f.body);
                if (request && request->code == kAuthSasl)
                    (void)parse_sasl_mechanisms(request->data);
                break;
            }
            case 'E':
            case 'N': {
                auto fields = parse_error_fields(f.body);
                if (fields) {
                    const auto rebuilt =
                        build_error_response(fields->get('C'), fields->get('M'), fields->get('S'));
                    auto reparsed = take_frame(rebuilt, 1 << 20, "x");
                    if (!reparsed || !reparsed->has_value()) std::abort();
                }
                break;
            }
            case 'K':
                (void)parse_backend_key_data(f.body);
                break;
            case 'v':
                (void)parse_negotiate_protocol_version(f.body);
                break;
            case 'p':
                (void)parse_password_message(f.body);
                break;
            default:
                break;
        }
        input.remove_prefix(f.size);
    }
}

// Drives the upstream login state machine with 'R' messages from the input. Iteration counts
// are capped low so that SCRAM key derivation stays fast.
void check_auth(std::string_view input) {
    UpstreamAuth auth(
        {"app", std::string_view("pw"), (input.size() & 1) != 0, std::string("cb"), "fixednonce"});
    while (!input.empty()) {
        auto frame = take_frame(input, 1 << 12, "upstream");
        if (!frame || !frame->has_value()) return;
        input.remove_prefix((*frame)->size);
        auto request = parse_authentication((*frame)->body);
        if (!request) return;
        if (request->code == kAuthSaslContinue) {
            auto first = parse_scram_server_first(request->data);
            if (first && first->iterations > 64) return;
        }
        if (!auth.on_request(*request)) return;
        if (auth.authenticated()) return;
    }
}

void check_scram(std::string_view input) {
    auto first = parse_scram_server_first(input);
    (void)parse_scram_server_final(input);
    if (first && first->iterations <= 16) {
        ScramClient client("user", "pencil", first->nonce.substr(0, first->nonce.size() / 2));
        auto final_message = client.client_final(input);
        if (final_message && first->nonce.size() > first->nonce.size() / 2) {
            (void)client.verify_server_final(input);
        }
    }
}

}  // namespace

// The relay guards: chunking does not matter; the client guard passes a prefix of its input
// unchanged; the reply guard without secrets passes a prefix unchanged, and with one keeps it.
void check_guards(std::string_view input) {
    const std::size_t cut = input.empty() ? 0 : static_cast<unsigned char>(input[0]) % input.size();
    ClientGuard whole;
    std::string whole_out;
    const bool whole_ok = whole.feed(input, whole_out);
    ClientGuard split;
    std::string split_out;
    bool split_ok = split.feed(input.substr(0, cut), split_out);
    if (split_ok) split_ok = split.feed(input.substr(cut), split_out);
    if (whole_ok != split_ok || whole_out != split_out) std::abort();
    if (input.substr(0, whole_out.size()) != whole_out) std::abort();

    ReplyGuard plain({});
    std::string plain_out;
    (void)plain.feed(input, plain_out);
    if (input.substr(0, plain_out.size()) != plain_out) std::abort();
    ReplyGuard redacting({"s3cr3t"});
    std::string redacted;
    (void)redacting.feed(input.substr(0, cut), redacted);
    (void)redacting.feed(input.substr(cut), redacted);
    if (redacted.size() != plain_out.size()) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
        case 0:
            check_startup(input);
            break;
        case 1:
            check_backend(input);
            check_guards(input);
            break;
        case 2:
            check_auth(input);
            break;
        default:
            check_scram(input);
            break;
    }
    return 0;
}
