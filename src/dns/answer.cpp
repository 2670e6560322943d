#include "dns/answer.hpp"

namespace cloakroom::dns {

Answer answer_query(std::span<const std::uint8_t> message,
                    const std::function<bool(std::string_view)>& known, SyntheticPool& pool) {
    Answer answer;
    ParseOutcome parsed = parse_query(message);
    if (!parsed.query) {
        answer.refused = true;
        answer.reason = "malformed query: " + parsed.problem;
        if (parsed.error) {
            answer.rcode = *parsed.error;
            answer.response = build_error(parsed.id, *parsed.error);
        }
        return answer;
    }
    const Query& query = *parsed.query;
    answer.name = query.name;
    answer.type = query.type;
    auto respond = [&](Rcode rcode, std::optional<Record> record) {
        answer.rcode = rcode;
        answer.answered = record.has_value();
        answer.response = build_response(query, rcode, record);
        return answer;
    };
    if (query.klass != kClassIn) {
        answer.refused = true;
        answer.reason = "class " + std::to_string(query.klass) + " is not served";
        return respond(Rcode::Refused, std::nullopt);
    }
    if (query.name.empty() || !known(query.name)) {
        answer.refused = true;
        answer.reason = "name not served by Cloakroom (no service or [allow] host)";
        return respond(Rcode::NxDomain, std::nullopt);
    }
    if (query.type != kTypeA && query.type != kTypeAaaa && query.type != kTypeAny) {
        answer.reason = "no record of this type";
        return respond(Rcode::NoError, std::nullopt);  // NODATA
    }
    Record record;
    record.ttl = kSyntheticTtl;
    if (query.type == kTypeAaaa) {
        if (auto address = pool.address6_for(query.name)) {
            record.type = kTypeAaaa;
            record.data.assign(address->begin(), address->end());
        }
    } else if (auto address = pool.address_for(query.name)) {
        record.type = kTypeA;
        record.data.assign(address->begin(), address->end());
    }
    if (record.data.empty()) {
        answer.reason = "synthetic address pool exhausted";
        return respond(Rcode::ServFail, std::nullopt);
    }
    answer.reason = "synthetic address";
    return respond(Rcode::NoError, record);
}

}  // namespace cloakroom::dns
