#include "token/msgpack_io.hpp"

#include <new>

namespace cloakroom::token::detail {
namespace {

// Caps for one token. Arrays/maps cost ~24 bytes per declared element up front in msgpack-cxx's
// zone, so their counts are the important ones; str/bin can never exceed the input anyway.
const msgpack::unpack_limit& limits() {
    static const msgpack::unpack_limit kLimits(/*array=*/4096, /*map=*/4096,
                                               /*str=*/kMaxEncodedBytes, /*bin=*/kMaxEncodedBytes,
                                               /*ext=*/kMaxEncodedBytes, /*depth=*/32);
    return kLimits;
}

Error unpack_error(std::string message) {
    return make_error("token.decode", std::move(message));
}

}  // namespace

Writer::Writer() : packer_(sink_) {}

void Writer::array_header(std::size_t count) {
    packer_.pack_array(static_cast<std::uint32_t>(count));
}
void Writer::uint(std::uint64_t value) {
    packer_.pack_uint64(value);
}
void Writer::sint(std::int64_t value) {
    packer_.pack_int64(value);
}
void Writer::str(std::string_view text) {
    packer_.pack_str(static_cast<std::uint32_t>(text.size()));
    packer_.pack_str_body(text.data(), static_cast<std::uint32_t>(text.size()));
}
void Writer::bin(std::string_view bytes) {
    packer_.pack_bin(static_cast<std::uint32_t>(bytes.size()));
    packer_.pack_bin_body(bytes.data(), static_cast<std::uint32_t>(bytes.size()));
}
void Writer::nil() {
    packer_.pack_nil();
}
void Writer::boolean(bool value) {
    if (value) {
        packer_.pack_true();
    } else {
        packer_.pack_false();
    }
}
void Writer::raw(std::string_view encoded) {
    sink_.out.append(encoded);
}

Result<msgpack::object_handle> unpack_one(std::string_view data, std::size_t& offset) {
    if (offset >= data.size()) return unpack_error("unexpected end of data");
    try {
        return msgpack::unpack(data.data(), data.size(), offset, nullptr, nullptr, limits());
    } catch (const msgpack::insufficient_bytes&) {
        return unpack_error("unexpected end of data");
    } catch (const msgpack::array_size_overflow&) {
        return unpack_error("declared array length exceeds the limit");
    } catch (const msgpack::map_size_overflow&) {
        return unpack_error("declared map size exceeds the limit");
    } catch (const msgpack::str_size_overflow&) {
        return unpack_error("declared string length exceeds the limit");
    } catch (const msgpack::bin_size_overflow&) {
        return unpack_error("declared binary length exceeds the limit");
    } catch (const msgpack::ext_size_overflow&) {
        return unpack_error("declared extension length exceeds the limit");
    } catch (const msgpack::depth_size_overflow&) {
        return unpack_error("nesting deeper than the limit");
    } catch (const msgpack::parse_error&) {
        return unpack_error("invalid msgpack (reserved type byte)");
    } catch (const std::bad_alloc&) {
        return unpack_error("value too large");
    } catch (const std::exception& e) {
        return unpack_error(std::string("invalid msgpack: ") + e.what());
    }
}

Result<std::vector<std::string_view>> array_element_slices(std::string_view data) {
    if (data.empty()) return unpack_error("unexpected end of data");
    const auto first = static_cast<unsigned char>(data[0]);
    std::size_t header = 0;
    if (first >= 0x90 && first <= 0x9f) {
        header = 1;
    } else if (first == 0xdc) {
        header = 3;
    } else if (first == 0xdd) {
        header = 5;
    } else {
        return unpack_error("expected an array");
    }
    std::size_t offset = 0;
    auto whole = unpack_one(data, offset);  // count and validity in one place
    if (!whole) return whole.error();
    const std::uint32_t count = whole->get().via.array.size;
    std::vector<std::string_view> slices;
    slices.reserve(count);
    offset = header;
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::size_t start = offset;
        auto element = unpack_one(data, offset);
        if (!element) return element.error();
        slices.push_back(data.substr(start, offset - start));
    }
    return slices;
}

std::string describe(const msgpack::object& object) {
    switch (object.type) {
        case msgpack::type::NIL:
            return "nil";
        case msgpack::type::BOOLEAN:
            return "bool";
        case msgpack::type::POSITIVE_INTEGER:
            return "positive integer";
        case msgpack::type::NEGATIVE_INTEGER:
            return "negative integer";
        case msgpack::type::FLOAT32:
        case msgpack::type::FLOAT64:
            return "float";
        case msgpack::type::STR:
            return "str";
        case msgpack::type::BIN:
            return "bin";
        case msgpack::type::EXT:
            return "ext";
        case msgpack::type::ARRAY:
            return "array of " + std::to_string(object.via.array.size);
        case msgpack::type::MAP:
            return "map of " + std::to_string(object.via.map.size);
    }
    return "unknown";
}

}  // namespace cloakroom::token::detail
