// The DNS wire format, as much of it as a stub responder needs (RFC 1035): parse one query,
// build its answer. Pure and allocation-bounded; every length is checked before it is used
// (fuzz/dns_message_fuzz.cpp). Names with compression pointers in the question are refused
// (no client sends them there), so parsing never follows a pointer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dns/synthetic_pool.hpp"

namespace cloakroom::dns {

inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypeAaaa = 28;
inline constexpr std::uint16_t kTypeAny = 255;
inline constexpr std::uint16_t kClassIn = 1;

enum class Rcode : std::uint8_t {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
};

struct Query {
    std::uint16_t id = 0;
    std::uint8_t opcode = 0;
    bool recursion_desired = false;
    // The question: the name in presentation form, lower-case, without the trailing dot
    // ("" for the root); a byte outside letters, digits, '-' and '_' is written "\DDD", so such
    // a name can match no configured host.
    std::string name;
    std::uint16_t type = 0;
    std::uint16_t klass = 0;
    std::span<const std::uint8_t> question;  // the question's wire bytes, echoed in the answer
};

struct ParseOutcome {
    std::optional<Query> query;  // set when the question could be read
    // When `query` is empty: the answer to send (FORMERR / NOTIMP with the query's id), or
    // nothing at all for bytes too short to carry a header, or a response (QR set).
    std::optional<Rcode> error;
    std::uint16_t id = 0;
    std::string problem;  // why, for the audit
};

// Limits: a label is 1..63 bytes, a name at most 255 bytes on the wire; exactly one question.
ParseOutcome parse_query(std::span<const std::uint8_t> message);

// One answer record for the question's name: type A (4 bytes of data) or AAAA (16).
struct Record {
    std::uint16_t type = kTypeA;
    std::vector<std::uint8_t> data;
    std::uint32_t ttl = 0;
};

// The answer to `query`: `rcode`, and `record` when set.
std::vector<std::uint8_t> build_response(const Query& query, Rcode rcode,
                                         const std::optional<Record>& record);
// An answer without a question (FORMERR/NOTIMP for a query that could not be read).
std::vector<std::uint8_t> build_error(std::uint16_t id, Rcode rcode);

}  // namespace cloakroom::dns
