#include "token/macaroon.hpp"

#include "token/caveat_codec.hpp"
#include "token/msgpack_io.hpp"

namespace cloakroom::token {
namespace {

using detail::describe;
using detail::Writer;

Error decode_error(std::string message) {
    return make_error("token.decode", "decode: " + std::move(message));
}

void write_nonce(Writer& w, const Nonce& nonce) {
    w.array_header(nonce.legacy ? 2 : 3);
    w.bin(nonce.kid);
    w.bin(nonce.rnd);
    if (!nonce.legacy) w.boolean(nonce.proof);
}

void write_caveat_set(Writer& w, const std::vector<Caveat>& caveats) {
    w.array_header(caveats.size() * 2);
    for (const auto& caveat : caveats) {
        w.uint(caveat_type(caveat));
        detail::write_caveat_body(w, caveat);
    }
}

Result<Nonce> read_nonce(const msgpack::object& o) {
    if (o.type != msgpack::type::ARRAY || (o.via.array.size != 3 && o.via.array.size != 2)) {
        return decode_error("nonce must be an array of 3 elements (or the legacy 2), got " +
                            describe(o));
    }
    const msgpack::object* f = o.via.array.ptr;
    if (f[0].type != msgpack::type::BIN) {
        return decode_error("nonce key id must be bin, got " + describe(f[0]));
    }
    if (f[1].type != msgpack::type::BIN) {
        return decode_error("nonce random must be bin, got " + describe(f[1]));
    }
    Nonce nonce;
    nonce.kid.assign(f[0].via.bin.ptr, f[0].via.bin.size);
    nonce.rnd.assign(f[1].via.bin.ptr, f[1].via.bin.size);
    nonce.legacy = o.via.array.size == 2;
    if (!nonce.legacy) {
        if (f[2].type != msgpack::type::BOOLEAN) {
            return decode_error("nonce proof flag must be bool, got " + describe(f[2]));
        }
        nonce.proof = f[2].via.boolean;
    }
    return nonce;
}

// Refuses input whose canonical re-encoding differs (see macaroon.hpp).
Result<void> require_canonical(std::string_view wire, const std::string& reencoded) {
    if (reencoded == wire) return {};
    std::size_t at = 0;
    while (at < wire.size() && at < reencoded.size() && wire[at] == reencoded[at]) ++at;
    return decode_error("non-canonical encoding (differs from the canonical form at byte " +
                        std::to_string(at) + ")");
}

}  // namespace

Bytes encode_nonce(const Nonce& nonce) {
    Writer w;
    write_nonce(w, nonce);
    return w.take();
}

Bytes encode_caveat_body(const Caveat& caveat) {
    Writer w;
    detail::write_caveat_body(w, caveat);
    return w.take();
}

Bytes encode_caveat_hmac_input(const Caveat& caveat) {
    Writer w;
    write_caveat_set(w, {caveat});
    return w.take();
}

Bytes encode_caveat_set(const std::vector<Caveat>& caveats) {
    Writer w;
    write_caveat_set(w, caveats);
    return w.take();
}

Bytes encode_macaroon(const Macaroon& m) {
    Writer w;
    w.array_header(4);
    write_nonce(w, m.nonce);
    w.str(m.location);
    write_caveat_set(w, m.caveats);
    w.bin(m.tail);
    return w.take();
}

Result<Macaroon> decode_macaroon(std::string_view wire) {
    if (wire.size() > detail::kMaxEncodedBytes) {
        return decode_error("macaroon of " + std::to_string(wire.size()) +
                            " bytes exceeds the limit of " +
                            std::to_string(detail::kMaxEncodedBytes));
    }
    std::size_t offset = 0;
    auto root_handle = detail::unpack_one(wire, offset);
    if (!root_handle) return decode_error(root_handle.error().message);
    if (offset != wire.size()) {
        return decode_error(std::to_string(wire.size() - offset) +
                            " trailing bytes after the macaroon");
    }
    const msgpack::object& root = root_handle->get();
    if (root.type != msgpack::type::ARRAY || root.via.array.size != 4) {
        return decode_error("macaroon must be an array of 4 elements, got " + describe(root));
    }
    const msgpack::object* f = root.via.array.ptr;

    Macaroon m;
    auto nonce = read_nonce(f[0]);
    if (!nonce) return nonce.error();
    m.nonce = std::move(*nonce);

    if (f[1].type != msgpack::type::STR) {
        return decode_error("location must be str, got " + describe(f[1]));
    }
    m.location.assign(f[1].via.str.ptr, f[1].via.str.size);

    // The caveat bodies of unknown types are kept verbatim, so find the caveat array's bytes.
    std::string_view caveats_raw;
    if (detail::caveat_array_needs_raw(f[2])) {
        auto slices = detail::array_element_slices(wire);
        if (!slices) return decode_error(slices.error().message);
        caveats_raw = (*slices)[2];
    }
    auto caveats = detail::read_caveat_array(f[2], caveats_raw);
    if (!caveats) return decode_error(caveats.error().message);
    m.caveats = std::move(*caveats);

    if (f[3].type != msgpack::type::BIN || f[3].via.bin.size != 32) {
        return decode_error("tail must be 32 bytes of bin, got " +
                            (f[3].type == msgpack::type::BIN
                                 ? "bin of " + std::to_string(f[3].via.bin.size) + " bytes"
                                 : describe(f[3])));
    }
    m.tail.assign(f[3].via.bin.ptr, f[3].via.bin.size);

    auto canonical = require_canonical(wire, encode_macaroon(m));
    if (!canonical) return canonical.error();
    return m;
}

Result<std::vector<Caveat>> decode_caveat_set(std::string_view wire) {
    if (wire.size() > detail::kMaxEncodedBytes) return decode_error("caveat set too large");
    std::size_t offset = 0;
    auto handle = detail::unpack_one(wire, offset);
    if (!handle) return decode_error(handle.error().message);
    if (offset != wire.size()) {
        return decode_error(std::to_string(wire.size() - offset) +
                            " trailing bytes after the caveat set");
    }
    auto caveats = detail::read_caveat_array(handle->get(), wire);
    if (!caveats) return decode_error(caveats.error().message);
    auto canonical = require_canonical(wire, encode_caveat_set(*caveats));
    if (!canonical) return canonical.error();
    return caveats;
}

}  // namespace cloakroom::token
