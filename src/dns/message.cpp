#include "dns/message.hpp"

namespace cloakroom::dns {
namespace {

constexpr std::size_t kHeader = 12;
constexpr std::size_t kMaxWireName = 255;

std::uint16_t read16(std::span<const std::uint8_t> bytes, std::size_t at) {
    return static_cast<std::uint16_t>((bytes[at] << 8) | bytes[at + 1]);
}

void put16(std::vector<std::uint8_t>& out, std::uint16_t value) {
    out.push_back(static_cast<std::uint8_t>(value >> 8));
    out.push_back(static_cast<std::uint8_t>(value));
}

void put32(std::vector<std::uint8_t>& out, std::uint32_t value) {
    put16(out, static_cast<std::uint16_t>(value >> 16));
    put16(out, static_cast<std::uint16_t>(value));
}

bool plain_char(std::uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

void header(std::vector<std::uint8_t>& out, std::uint16_t id, bool rd, Rcode rcode,
            std::uint16_t questions, std::uint16_t answers) {
    put16(out, id);
    // QR=1, opcode 0, AA=1 (this responder is the authority for what it answers), TC=0, RD as
    // asked, RA=0 (it never recurses), Z=0.
    out.push_back(static_cast<std::uint8_t>(0x84 | (rd ? 0x01 : 0x00)));
    out.push_back(static_cast<std::uint8_t>(rcode));
    put16(out, questions);
    put16(out, answers);
    put16(out, 0);
    put16(out, 0);
}

}  // namespace

ParseOutcome parse_query(std::span<const std::uint8_t> message) {
    ParseOutcome outcome;
    if (message.size() < kHeader) {
        outcome.problem = "shorter than a DNS header";
        return outcome;
    }
    outcome.id = read16(message, 0);
    const std::uint8_t flags = message[2];
    if ((flags & 0x80) != 0) {
        outcome.problem = "a response, not a query";
        return outcome;
    }
    const std::uint8_t opcode = (flags >> 3) & 0x0f;
    auto fail = [&](Rcode rcode, std::string problem) {
        outcome.error = rcode;
        outcome.problem = std::move(problem);
        return outcome;
    };
    if (opcode != 0) return fail(Rcode::NotImp, "opcode " + std::to_string(opcode));
    if (read16(message, 4) != 1) return fail(Rcode::FormErr, "not exactly one question");

    std::size_t at = kHeader;
    std::string name;
    std::size_t wire = 0;
    for (;;) {
        if (at >= message.size()) return fail(Rcode::FormErr, "question truncated");
        const std::uint8_t length = message[at];
        if ((length & 0xc0) != 0) return fail(Rcode::FormErr, "compressed or extended label");
        wire += 1 + length;
        if (wire > kMaxWireName) return fail(Rcode::FormErr, "name longer than 255 bytes");
        ++at;
        if (length == 0) break;
        if (message.size() - at < length) return fail(Rcode::FormErr, "label truncated");
        if (!name.empty()) name.push_back('.');
        for (std::size_t i = 0; i < length; ++i) {
            std::uint8_t c = message[at + i];
            if (c >= 'A' && c <= 'Z') c = static_cast<std::uint8_t>(c - 'A' + 'a');
            if (plain_char(c)) {
                name.push_back(static_cast<char>(c));
            } else {
                name.push_back('\\');
                name.push_back(static_cast<char>('0' + c / 100));
                name.push_back(static_cast<char>('0' + c / 10 % 10));
                name.push_back(static_cast<char>('0' + c % 10));
            }
        }
        at += length;
    }
    if (message.size() - at < 4) return fail(Rcode::FormErr, "question truncated");
    Query query;
    query.id = outcome.id;
    query.opcode = opcode;
    query.recursion_desired = (flags & 0x01) != 0;
    query.name = std::move(name);
    query.type = read16(message, at);
    query.klass = read16(message, at + 2);
    query.question = message.subspan(kHeader, at + 4 - kHeader);
    outcome.query = std::move(query);
    return outcome;
}

std::vector<std::uint8_t> build_response(const Query& query, Rcode rcode,
                                         const std::optional<Record>& record) {
    std::vector<std::uint8_t> out;
    out.reserve(kHeader + query.question.size() + 28);
    header(out, query.id, query.recursion_desired, rcode, 1, record ? 1 : 0);
    out.insert(out.end(), query.question.begin(), query.question.end());
    if (record) {
        put16(out, 0xc000 | kHeader);  // the question's name
        put16(out, record->type);
        put16(out, kClassIn);
        put32(out, record->ttl);
        put16(out, static_cast<std::uint16_t>(record->data.size()));
        out.insert(out.end(), record->data.begin(), record->data.end());
    }
    return out;
}

std::vector<std::uint8_t> build_error(std::uint16_t id, Rcode rcode) {
    std::vector<std::uint8_t> out;
    header(out, id, false, rcode, 0, 0);
    return out;
}

}  // namespace cloakroom::dns
