#include "token/caveat_codec.hpp"

#include <limits>
#include <optional>
#include <string>

namespace cloakroom::token::detail {
namespace {

Error body_error(std::string message) {
    return make_error("token.decode", std::move(message));
}

std::string_view as_view(const msgpack::object& o) {
    return {o.via.str.ptr, o.via.str.size};  // str and bin share the layout
}

std::string_view bin_view(const msgpack::object& o) {
    return {o.via.bin.ptr, o.via.bin.size};
}

// Struct bodies are arrays of their fields (README §3.5).
Result<const msgpack::object*> struct_fields(const msgpack::object& body, std::string_view name,
                                             std::uint32_t count) {
    if (body.type != msgpack::type::ARRAY || body.via.array.size != count) {
        return body_error(std::string(name) + " body must be an array of " + std::to_string(count) +
                          (count == 1 ? " element" : " elements") + ", got " + describe(body));
    }
    return body.via.array.ptr;
}

Result<std::int64_t> read_int64(const msgpack::object& o, std::string_view what) {
    if (o.type == msgpack::type::POSITIVE_INTEGER) {
        if (o.via.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return body_error(std::string(what) + " does not fit a signed 64-bit integer");
        }
        return static_cast<std::int64_t>(o.via.u64);
    }
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
    return body_error(std::string(what) + " must be an integer, got " + describe(o));
}

Result<std::optional<std::vector<std::string>>> read_string_list(const msgpack::object& o,
                                                                 std::string_view what) {
    if (o.type == msgpack::type::NIL) return std::optional<std::vector<std::string>>{};
    if (o.type != msgpack::type::ARRAY) {
        return body_error(std::string(what) + " must be an array of str or nil, got " +
                          describe(o));
    }
    std::vector<std::string> items;
    items.reserve(o.via.array.size);
    for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
        const msgpack::object& item = o.via.array.ptr[i];
        if (item.type != msgpack::type::STR) {
            return body_error(std::string(what) + " entry " + std::to_string(i + 1) +
                              " must be str, got " + describe(item));
        }
        items.emplace_back(as_view(item));
    }
    return std::optional<std::vector<std::string>>(std::move(items));
}

template <class T>
Result<Caveat> read_list_caveat(const msgpack::object& body, std::string_view name,
                                std::string_view field) {
    auto fields = struct_fields(body, name, 1);
    if (!fields) return fields.error();
    auto list = read_string_list((*fields)[0], std::string(name) + " " + std::string(field));
    if (!list) return list.error();
    return Caveat(T{std::move(*list)});
}

Result<std::uint64_t> read_uint64(const msgpack::object& o, std::string_view what) {
    if (o.type == msgpack::type::POSITIVE_INTEGER) return o.via.u64;
    return body_error(std::string(what) + " must be an unsigned integer, got " + describe(o));
}

Result<Caveat> read_usage_limits(const msgpack::object& body) {
    auto fields = struct_fields(body, "Limits", 4);
    if (!fields) return fields.error();
    UsageLimits limits;
    std::uint64_t* targets[] = {&limits.rate_count, &limits.rate_period_seconds,
                                &limits.concurrency, &limits.budget};
    const char* names[] = {"Limits rate count", "Limits rate period", "Limits concurrency",
                           "Limits budget"};
    for (std::size_t i = 0; i < 4; ++i) {
        auto value = read_uint64((*fields)[i], names[i]);
        if (!value) return value.error();
        *targets[i] = *value;
    }
    // A rate needs both numbers: half of one would be read differently by different verifiers.
    if ((limits.rate_count == 0) != (limits.rate_period_seconds == 0)) {
        return body_error("Limits rate needs both a count and a period (or neither)");
    }
    return Caveat(limits);
}

void write_string_list(Writer& w, const std::optional<std::vector<std::string>>& list) {
    w.array_header(1);
    if (!list) {
        w.nil();
        return;
    }
    w.array_header(list->size());
    for (const auto& item : *list) w.str(item);
}

}  // namespace

void write_caveat_body(Writer& w, const Caveat& caveat) {
    struct Visitor {
        Writer& w;
        void operator()(const ValidityWindow& c) const {
            w.array_header(2);
            w.sint(c.not_before);
            w.sint(c.not_after);
        }
        void operator()(const Hosts& c) const { write_string_list(w, c.hosts); }
        void operator()(const Methods& c) const { write_string_list(w, c.methods); }
        void operator()(const Paths& c) const { write_string_list(w, c.patterns); }
        void operator()(const ThirdParty& c) const {
            w.array_header(3);
            w.str(c.location);
            w.bin(c.verifier_key);
            w.bin(c.ticket);
        }
        void operator()(const BindToParent& c) const { w.bin(c.binding_id); }
        void operator()(const Attestation& c) const {
            w.array_header(1);
            w.str(c.nonce);
        }
        void operator()(const DbServices& c) const { write_string_list(w, c.services); }
        void operator()(const DbLogins& c) const { write_string_list(w, c.logins); }
        void operator()(const DbNames& c) const { write_string_list(w, c.names); }
        void operator()(const DbCommands& c) const { write_string_list(w, c.commands); }
        void operator()(const UsageLimits& c) const {
            w.array_header(4);
            w.uint(c.rate_count);
            w.uint(c.rate_period_seconds);
            w.uint(c.concurrency);
            w.uint(c.budget);
        }
        void operator()(const UnknownCaveat& c) const { w.raw(c.body); }
    };
    std::visit(Visitor{w}, caveat);
}

Result<Caveat> read_caveat_body(std::uint64_t type, const msgpack::object& body,
                                std::string_view raw) {
    switch (type) {
        case kTypeValidityWindow: {
            auto fields = struct_fields(body, "ValidityWindow", 2);
            if (!fields) return fields.error();
            auto not_before = read_int64((*fields)[0], "ValidityWindow not_before");
            if (!not_before) return not_before.error();
            auto not_after = read_int64((*fields)[1], "ValidityWindow not_after");
            if (!not_after) return not_after.error();
            return Caveat(ValidityWindow{*not_before, *not_after});
        }
        case kTypeApiHost:
            return read_list_caveat<Hosts>(body, "APIHost", "hosts");
        case kTypeApiMethod:
            return read_list_caveat<Methods>(body, "APIMethod", "methods");
        case kTypeApiPath:
            return read_list_caveat<Paths>(body, "APIPath", "patterns");
        case kTypeDbServices:
            return read_list_caveat<DbServices>(body, "DBService", "services");
        case kTypeDbLogins:
            return read_list_caveat<DbLogins>(body, "DBLogin", "logins");
        case kTypeDbNames:
            return read_list_caveat<DbNames>(body, "DBName", "names");
        case kTypeDbCommands:
            return read_list_caveat<DbCommands>(body, "DBCommand", "commands");
        case kTypeUsageLimits:
            return read_usage_limits(body);
        case kTypeThirdParty: {
            auto fields = struct_fields(body, "3P", 3);
            if (!fields) return fields.error();
            const msgpack::object* f = *fields;
            if (f[0].type != msgpack::type::STR) {
                return body_error("3P location must be str, got " + describe(f[0]));
            }
            if (f[1].type != msgpack::type::BIN) {
                return body_error("3P verifier key must be bin, got " + describe(f[1]));
            }
            if (f[2].type != msgpack::type::BIN) {
                return body_error("3P ticket must be bin, got " + describe(f[2]));
            }
            return Caveat(ThirdParty{std::string(as_view(f[0])), Bytes(bin_view(f[1])),
                                     Bytes(bin_view(f[2]))});
        }
        case kTypeBindToParent:
            if (body.type != msgpack::type::BIN) {
                return body_error("BindToParentToken body must be bin, got " + describe(body));
            }
            return Caveat(BindToParent{Bytes(bin_view(body))});
        case kTypeAttestation: {
            auto fields = struct_fields(body, "Attestation", 1);
            if (!fields) return fields.error();
            if ((*fields)[0].type != msgpack::type::STR) {
                return body_error("Attestation nonce must be str, got " + describe((*fields)[0]));
            }
            return Caveat(Attestation{std::string(as_view((*fields)[0]))});
        }
        default:
            return Caveat(UnknownCaveat{type, Bytes(raw)});
    }
}

bool caveat_array_needs_raw(const msgpack::object& array) {
    if (array.type != msgpack::type::ARRAY) return false;
    for (std::uint32_t i = 0; i + 1 < array.via.array.size; i += 2) {
        const msgpack::object& type = array.via.array.ptr[i];
        if (type.type != msgpack::type::POSITIVE_INTEGER) continue;
        switch (type.via.u64) {
            case kTypeValidityWindow:
            case kTypeApiHost:
            case kTypeApiMethod:
            case kTypeApiPath:
            case kTypeDbServices:
            case kTypeDbLogins:
            case kTypeDbNames:
            case kTypeDbCommands:
            case kTypeUsageLimits:
            case kTypeThirdParty:
            case kTypeBindToParent:
            case kTypeAttestation:
                break;
            default:
                return true;  // kept verbatim: read_caveat_body needs its bytes
        }
    }
    return false;
}

Result<std::vector<Caveat>> read_caveat_array(const msgpack::object& array, std::string_view raw) {
    if (array.type != msgpack::type::ARRAY) {
        return body_error("caveats must be an array, got " + describe(array));
    }
    const std::uint32_t size = array.via.array.size;
    if (size % 2 != 0) {
        return body_error("caveat array has odd length " + std::to_string(size) +
                          " (expected type/body pairs)");
    }
    // The element byte slices cost a second parse; only unknown caveat types need them.
    std::vector<std::string_view> slices;
    if (caveat_array_needs_raw(array)) {
        auto found = array_element_slices(raw);
        if (!found) return found.error();
        slices = std::move(*found);
    }
    std::vector<Caveat> caveats;
    caveats.reserve(size / 2);
    for (std::uint32_t i = 0; i < size; i += 2) {
        const auto prefix = [i] { return "caveat " + std::to_string(i / 2 + 1) + ": "; };
        const msgpack::object& type = array.via.array.ptr[i];
        if (type.type != msgpack::type::POSITIVE_INTEGER) {
            return body_error(prefix() + "type must be an unsigned integer, got " + describe(type));
        }
        const std::string_view body_raw = slices.empty() ? std::string_view{} : slices[i + 1];
        auto caveat = read_caveat_body(type.via.u64, array.via.array.ptr[i + 1], body_raw);
        if (!caveat) return body_error(prefix() + caveat.error().message);
        caveats.push_back(std::move(*caveat));
    }
    return caveats;
}

}  // namespace cloakroom::token::detail
