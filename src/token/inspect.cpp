#include "token/inspect.hpp"

#include <cmath>
#include <cstdio>

#include "token/chain.hpp"
#include "token/msgpack_io.hpp"
#include "token/text.hpp"
#include "util/hex.hpp"

namespace cloakroom::token {
namespace {

using nlohmann::json;

// nlohmann refuses to dump invalid UTF-8; token strings are arbitrary bytes.
json text_json(std::string_view text) {
    if (detail::valid_utf8(text)) return std::string(text);
    return detail::escape(text);
}

json list_json(const std::optional<std::vector<std::string>>& list) {
    if (!list) return nullptr;
    json out = json::array();
    for (const auto& item : *list) out.push_back(text_json(item));
    return out;
}

json time_json(std::int64_t t) {
    auto text = detail::rfc3339_utc(t);
    return text ? json(*text) : json(nullptr);
}

// Generic view of an unknown caveat's body (bin as hex, ext as {type, data_hex}).
json object_json(const msgpack::object& o) {
    switch (o.type) {
        case msgpack::type::NIL:
            return nullptr;
        case msgpack::type::BOOLEAN:
            return o.via.boolean;
        case msgpack::type::POSITIVE_INTEGER:
            return o.via.u64;
        case msgpack::type::NEGATIVE_INTEGER:
            return o.via.i64;
        case msgpack::type::FLOAT32:
        case msgpack::type::FLOAT64:
            return std::isfinite(o.via.f64) ? json(o.via.f64) : json(nullptr);
        case msgpack::type::STR:
            return text_json({o.via.str.ptr, o.via.str.size});
        case msgpack::type::BIN:
            return hex_encode({o.via.bin.ptr, o.via.bin.size});
        case msgpack::type::EXT:
            return json{{"ext_type", o.via.ext.type()},
                        {"data_hex", hex_encode({o.via.ext.data(), o.via.ext.size})}};
        case msgpack::type::ARRAY: {
            json out = json::array();
            for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
                out.push_back(object_json(o.via.array.ptr[i]));
            }
            return out;
        }
        case msgpack::type::MAP: {
            json out = json::object();
            for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
                const auto& kv = o.via.map.ptr[i];
                const json key = object_json(kv.key);
                out[key.is_string() ? key.get<std::string>() : key.dump()] = object_json(kv.val);
            }
            return out;
        }
    }
    return nullptr;
}

json unknown_body_json(const UnknownCaveat& c) {
    json body{{"raw_msgpack_hex", hex_encode(c.body)}};
    std::size_t offset = 0;
    auto handle = detail::unpack_one(c.body, offset);
    body["decoded"] = handle ? object_json(handle->get()) : json(nullptr);
    return body;
}

json body_json(const Caveat& caveat) {
    struct Visitor {
        json operator()(const ValidityWindow& c) const {
            return {{"not_before", c.not_before},
                    {"not_after", c.not_after},
                    {"not_before_utc", time_json(c.not_before)},
                    {"not_after_utc", time_json(c.not_after)}};
        }
        json operator()(const Hosts& c) const { return {{"hosts", list_json(c.hosts)}}; }
        json operator()(const Methods& c) const { return {{"methods", list_json(c.methods)}}; }
        json operator()(const Paths& c) const { return {{"patterns", list_json(c.patterns)}}; }
        json operator()(const ThirdParty& c) const {
            return {{"location", text_json(c.location)},
                    {"verifier_key_hex", hex_encode(c.verifier_key)},
                    {"ticket_hex", hex_encode(c.ticket)}};
        }
        json operator()(const BindToParent& c) const {
            return {{"parent_binding_id_hex", hex_encode(c.binding_id)}};
        }
        json operator()(const Attestation& c) const { return {{"nonce", text_json(c.nonce)}}; }
        json operator()(const DbServices& c) const { return {{"services", list_json(c.services)}}; }
        json operator()(const DbLogins& c) const { return {{"logins", list_json(c.logins)}}; }
        json operator()(const DbNames& c) const { return {{"names", list_json(c.names)}}; }
        json operator()(const DbCommands& c) const { return {{"commands", list_json(c.commands)}}; }
        json operator()(const UsageLimits& c) const {
            json body = json::object();
            if (c.rate_count != 0) {
                body["rate"] = std::to_string(c.rate_count) + "/" +
                               std::to_string(c.rate_period_seconds) + "s";
            }
            if (c.concurrency != 0) body["concurrency"] = c.concurrency;
            if (c.budget != 0) body["budget"] = c.budget;
            return body;
        }
        json operator()(const UnknownCaveat& c) const { return unknown_body_json(c); }
    };
    return std::visit(Visitor{}, caveat);
}

}  // namespace

json caveat_json(const Caveat& caveat) {
    const std::uint64_t type = caveat_type(caveat);
    char type_hex[32];
    std::snprintf(type_hex, sizeof type_hex, "0x%llx", static_cast<unsigned long long>(type));
    return {{"type", type},
            {"type_hex", type_hex},
            {"name", caveat_type_name(type)},
            {"body", body_json(caveat)}};
}

json macaroon_json(const Macaroon& m) {
    json caveats = json::array();
    for (const auto& caveat : m.caveats) caveats.push_back(caveat_json(caveat));
    auto kid = detail::printable_utf8(m.nonce.kid);
    return {{"location", text_json(m.location)},
            {"key_id", kid ? json(*kid) : json(nullptr)},
            {"key_id_hex", hex_encode(m.nonce.kid)},
            {"token_id", token_id(m)},
            {"proof", m.nonce.proof},
            {"nonce_fields", m.nonce.legacy ? 2 : 3},
            {"caveats", std::move(caveats)},
            {"tail_hex", hex_encode(m.tail)}};
}

}  // namespace cloakroom::token
