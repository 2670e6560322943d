#include "policy/address_policy.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>

namespace cloakroom::policy {
namespace {

using V6 = std::array<std::uint8_t, 16>;

constexpr std::size_t kV4Size = 4;
constexpr std::size_t kV6Size = 16;
constexpr std::size_t kMaxLiteralBytes = 64;  // longest IPv6 text is 45 (+2 brackets)

constexpr std::uint32_t v4(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}

struct V4Range {
    std::uint32_t base;
    unsigned prefix;
    AddressClass cls;
};

// First match wins, so single addresses come before the ranges that contain them
// (255.255.255.255 is inside 240/4, the metadata addresses inside 169.254/16 and 100.64/10).
constexpr V4Range kV4Ranges[] = {
    {v4(255, 255, 255, 255), 32, AddressClass::Broadcast},
    {v4(169, 254, 169, 254), 32, AddressClass::Metadata},  // AWS, GCP, Azure, OCI, ...
    {v4(169, 254, 170, 2), 32, AddressClass::Metadata},    // AWS ECS task credentials
    {v4(100, 100, 100, 200), 32, AddressClass::Metadata},  // Alibaba Cloud
    {v4(0, 0, 0, 0), 8, AddressClass::Unspecified},        // "this network"; 0.0.0.0 is local
    {v4(127, 0, 0, 0), 8, AddressClass::Loopback},
    {v4(10, 0, 0, 0), 8, AddressClass::Private},
    {v4(172, 16, 0, 0), 12, AddressClass::Private},
    {v4(192, 168, 0, 0), 16, AddressClass::Private},
    {v4(169, 254, 0, 0), 16, AddressClass::LinkLocal},
    {v4(100, 64, 0, 0), 10, AddressClass::SharedCgnat},
    {v4(192, 0, 2, 0), 24, AddressClass::Documentation},
    {v4(198, 51, 100, 0), 24, AddressClass::Documentation},
    {v4(203, 0, 113, 0), 24, AddressClass::Documentation},
    {v4(192, 0, 0, 0), 24, AddressClass::Reserved},    // IETF protocol assignments
    {v4(192, 88, 99, 0), 24, AddressClass::Reserved},  // deprecated 6to4 relay anycast
    {v4(198, 18, 0, 0), 15, AddressClass::Reserved},   // benchmarking
    {v4(224, 0, 0, 0), 4, AddressClass::Multicast},
    {v4(240, 0, 0, 0), 4, AddressClass::Reserved},
};

struct V6Range {
    V6 base;
    unsigned prefix;
    AddressClass cls;
};

// Checked after the embedded-IPv4 forms. Outside these and 2000::/3 nothing is allocated for
// unicast, so the rest is Reserved (deny by default).
const V6Range kV6Ranges[] = {
    {{0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54},
     128,
     AddressClass::Metadata},  // fd00:ec2::254, AWS IMDS over IPv6
    {{0xfe, 0x80}, 10, AddressClass::LinkLocal},
    {{0xfe, 0xc0}, 10, AddressClass::Private},  // deprecated site-local
    {{0xfc, 0x00}, 7, AddressClass::Private},   // unique local
    {{0xff, 0x00}, 8, AddressClass::Multicast},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, AddressClass::Documentation},
    {{0x3f, 0xff}, 20, AddressClass::Documentation},  // RFC 9637
    {{0x01, 0x00}, 64, AddressClass::Reserved},       // discard-only
    {{0x20, 0x00}, 3, AddressClass::Public},          // global unicast
};

bool in_prefix(const V6& address, const V6& base, unsigned prefix) {
    for (unsigned bit = 0; bit < prefix; bit += 8) {
        const unsigned bits = prefix - bit < 8 ? prefix - bit : 8;
        const auto mask = static_cast<std::uint8_t>(0xFF << (8 - bits));
        if ((address[bit / 8] & mask) != (base[bit / 8] & mask)) return false;
    }
    return true;
}

AddressClass classify_v4(std::uint32_t address) {
    for (const V4Range& range : kV4Ranges) {
        const std::uint32_t mask = range.prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - range.prefix);
        if ((address & mask) == range.base) return range.cls;
    }
    return AddressClass::Public;
}

std::uint32_t read_v4(const V6& bytes, std::array<std::size_t, 4> at) {
    return v4(bytes[at[0]], bytes[at[1]], bytes[at[2]], bytes[at[3]]);
}

struct Embedded {
    std::uint32_t inner;
    const char* form;
};

bool zeros(const V6& bytes, std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
        if (bytes[i] != 0) return false;
    }
    return true;
}

// RFC 6052 §2.2 places the IPv4 address around the reserved octet 8 differently for each
// NAT64 prefix length, and 64:ff9b:1::/48 is for local translators of any length >= 48: which
// layout the network uses is unknown here. So every layout is read, and any reading that is
// internal wins (fail closed). A reading in 0.0.0.0/8 is skipped: that is what the zero
// padding of the other layouts produces, and a translator cannot deliver to it anyway.
constexpr std::array<std::array<std::size_t, 4>, 4> kLocalNat64Layouts = {{
    {12, 13, 14, 15},  // /96 first: the common deployment, and the reading reported if public
    {6, 7, 9, 10},     // /48
    {7, 9, 10, 11},    // /56
    {9, 10, 11, 12},   // /64
}};

Embedded local_nat64(const V6& bytes) {
    std::optional<Embedded> public_reading;
    for (const auto& layout : kLocalNat64Layouts) {
        const std::uint32_t inner = read_v4(bytes, layout);
        const AddressClass cls = classify_v4(inner);
        if (cls == AddressClass::Unspecified) continue;
        if (cls != AddressClass::Public) return Embedded{inner, "local-use NAT64"};
        if (!public_reading) public_reading = Embedded{inner, "local-use NAT64"};
    }
    if (public_reading) return *public_reading;
    return Embedded{read_v4(bytes, kLocalNat64Layouts.front()), "local-use NAT64"};
}

std::optional<Embedded> embedded_v4(const V6& bytes) {
    const std::array<std::size_t, 4> tail = {12, 13, 14, 15};
    if (zeros(bytes, 0, 10) && bytes[10] == 0xFF && bytes[11] == 0xFF) {
        return Embedded{read_v4(bytes, tail), "IPv4-mapped"};
    }
    if (zeros(bytes, 0, 8) && bytes[8] == 0xFF && bytes[9] == 0xFF && zeros(bytes, 10, 12)) {
        return Embedded{read_v4(bytes, tail), "IPv4-translated"};
    }
    if (zeros(bytes, 0, 12)) return Embedded{read_v4(bytes, tail), "IPv4-compatible"};
    if (in_prefix(bytes, V6{0x00, 0x64, 0xff, 0x9b}, 96)) {
        return Embedded{read_v4(bytes, tail), "NAT64"};
    }
    if (in_prefix(bytes, V6{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) return local_nat64(bytes);
    if (in_prefix(bytes, V6{0x20, 0x02}, 16)) return Embedded{read_v4(bytes, {2, 3, 4, 5}), "6to4"};
    if (in_prefix(bytes, V6{0x20, 0x01, 0x00, 0x00}, 32)) {
        // Teredo carries the client's public IPv4 address bit-inverted in the last 32 bits.
        return Embedded{~read_v4(bytes, tail), "Teredo"};
    }
    return std::nullopt;
}

AddressClass classify_v6(const V6& bytes) {
    for (const V6Range& range : kV6Ranges) {
        if (in_prefix(bytes, range.base, range.prefix)) return range.cls;
    }
    return AddressClass::Reserved;
}

std::string_view describe(AddressClass cls) {
    switch (cls) {
        case AddressClass::Public:
            return "a public address";
        case AddressClass::Loopback:
            return "a loopback address";
        case AddressClass::Private:
            return "a private address";
        case AddressClass::LinkLocal:
            return "a link-local address";
        case AddressClass::Metadata:
            return "a cloud metadata address";
        case AddressClass::Unspecified:
            return "an unspecified (\"this network\") address";
        case AddressClass::Multicast:
            return "a multicast address";
        case AddressClass::Reserved:
            return "a reserved address";
        case AddressClass::SharedCgnat:
            return "a shared (carrier-grade NAT) address";
        case AddressClass::Documentation:
            return "a documentation address";
        case AddressClass::Broadcast:
            return "the broadcast address";
    }
    return "an unknown kind of address";
}

// Classes no configuration can open: not meaningful unicast destinations (unspecified,
// multicast, broadcast), and cloud metadata, which hands out the machine's own credentials to
// whoever asks (allow_private is for private upstreams, never for metadata). The rule lives here
// and not in a dialer so that every caller (forward proxy, database gateways, a future
// transparent listener) gets the same answer.
bool never_allowed(AddressClass cls) {
    return cls == AddressClass::Unspecified || cls == AddressClass::Multicast ||
           cls == AddressClass::Broadcast || cls == AddressClass::Metadata;
}

bool allowed(AddressClass cls, bool allow_private) {
    if (cls == AddressClass::Public) return true;
    return allow_private && !never_allowed(cls);
}

AddressVerdict verdict(AddressClass cls, bool allow_private, std::string reason) {
    const bool ok = allowed(cls, allow_private);
    const bool private_would_allow = !ok && !allow_private && !never_allowed(cls);
    if (ok && cls != AddressClass::Public) {
        reason += " (allowed: the service sets allow_private)";
    } else if (!ok && never_allowed(cls)) {
        reason += " (never allowed, whatever allow_private says)";
    }
    return AddressVerdict{ok, cls, std::move(reason), private_would_allow};
}

std::string format_v4(std::uint32_t address) {
    return std::to_string(address >> 24) + "." + std::to_string((address >> 16) & 0xFF) + "." +
           std::to_string((address >> 8) & 0xFF) + "." + std::to_string(address & 0xFF);
}

// Input to the parser may come from a client header: show at most 64 bytes, escaped.
std::string quote(std::string_view text) {
    constexpr std::string_view kDigits = "0123456789ABCDEF";
    std::string out = "'";
    for (char c : text.substr(0, kMaxLiteralBytes)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7F && c != '\\') {
            out += c;
        } else {
            out += "\\x";
            out += kDigits[byte >> 4];
            out += kDigits[byte & 0x0F];
        }
    }
    out += '\'';
    if (text.size() > kMaxLiteralBytes) out += "...";
    return out;
}

Error invalid(std::string_view text, std::string_view why) {
    return make_error("address.invalid",
                      quote(text) + " is not an IP address: " + std::string(why));
}

// Four decimal parts 0-255, no leading zeros: "010.1.1.1" is octal to inet_aton and decimal
// to others, and a literal two parsers read differently is exactly what an SSRF needs.
std::optional<std::uint32_t> parse_v4(std::string_view text) {
    std::uint32_t address = 0;
    int parts = 0;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = text.find('.', start);
        const std::string_view part = text.substr(
            start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (part.empty() || part.size() > 3 || (part.size() > 1 && part.front() == '0')) {
            return std::nullopt;
        }
        std::uint32_t value = 0;
        for (char c : part) {
            if (c < '0' || c > '9') return std::nullopt;
            value = value * 10 + static_cast<std::uint32_t>(c - '0');
        }
        if (value > 255 || ++parts > 4) return std::nullopt;
        address = (address << 8) | value;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    if (parts != 4) return std::nullopt;
    return address;
}

Result<std::vector<std::uint8_t>> parse_v6(std::string_view original, std::string_view text) {
    if (text.find('%') != std::string_view::npos) {
        return invalid(original, "zone ids ('%') are not accepted");
    }
    // inet_pton checks the grammar; the dotted tail is re-checked here so that its IPv4 rules
    // (no leading zeros) do not depend on the C library.
    const std::size_t last_colon = text.rfind(':');
    const std::string_view tail = text.substr(last_colon + 1);
    if (tail.find('.') != std::string_view::npos && !parse_v4(tail)) {
        return invalid(original, "the embedded IPv4 part is not a strict dotted quad");
    }
    V6 bytes{};
    const std::string terminated(text);
    if (inet_pton(AF_INET6, terminated.c_str(), bytes.data()) != 1) {
        return invalid(original, "not valid IPv6 text");
    }
    return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
}

}  // namespace

AddressVerdict classify_address(std::span<const std::uint8_t> bytes, bool allow_private) {
    if (bytes.size() == kV4Size) {
        const std::uint32_t address = v4(bytes[0], bytes[1], bytes[2], bytes[3]);
        const AddressClass cls = classify_v4(address);
        return verdict(cls, allow_private,
                       format_v4(address) + " is " + std::string(describe(cls)));
    }
    if (bytes.size() != kV6Size) {
        return AddressVerdict{
            false, AddressClass::Reserved,
            "an address of " + std::to_string(bytes.size()) + " bytes is neither IPv4 nor IPv6"};
    }
    V6 address{};
    std::copy(bytes.begin(), bytes.end(), address.begin());
    const std::string text = format_address(bytes);
    if (zeros(address, 0, 16)) {
        return verdict(AddressClass::Unspecified, allow_private,
                       text + " is " + std::string(describe(AddressClass::Unspecified)));
    }
    if (zeros(address, 0, 15) && address[15] == 1) {
        return verdict(AddressClass::Loopback, allow_private,
                       text + " is " + std::string(describe(AddressClass::Loopback)));
    }
    if (const auto embedded = embedded_v4(address)) {
        const AddressClass cls = classify_v4(embedded->inner);
        return verdict(cls, allow_private,
                       text + " embeds " + format_v4(embedded->inner) + " (" + embedded->form +
                           "), " + std::string(describe(cls)));
    }
    const AddressClass cls = classify_v6(address);
    return verdict(cls, allow_private, text + " is " + std::string(describe(cls)));
}

Result<std::vector<std::uint8_t>> parse_ip_literal(std::string_view text) {
    if (text.empty()) return invalid(text, "it is empty");
    if (text.size() > kMaxLiteralBytes) return invalid(text, "it is too long");
    if (text.front() == '[') {
        if (text.size() < 2 || text.back() != ']') return invalid(text, "'[' without ']'");
        const std::string_view inside = text.substr(1, text.size() - 2);
        if (inside.find(':') == std::string_view::npos) {
            return invalid(text, "brackets are only for IPv6");
        }
        return parse_v6(text, inside);
    }
    if (text.find(':') != std::string_view::npos) return parse_v6(text, text);
    const auto address = parse_v4(text);
    if (!address) {
        return invalid(text, "IPv4 needs four decimal parts 0-255 without leading zeros");
    }
    return std::vector<std::uint8_t>{
        static_cast<std::uint8_t>(*address >> 24), static_cast<std::uint8_t>(*address >> 16),
        static_cast<std::uint8_t>(*address >> 8), static_cast<std::uint8_t>(*address)};
}

std::string format_address(std::span<const std::uint8_t> bytes) {
    if (bytes.size() == kV4Size) return format_v4(v4(bytes[0], bytes[1], bytes[2], bytes[3]));
    if (bytes.size() != kV6Size) return "";
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (inet_ntop(AF_INET6, bytes.data(), text.data(), text.size()) == nullptr) return "";
    return std::string(text.data());
}

std::string_view address_class_name(AddressClass cls) {
    switch (cls) {
        case AddressClass::Public:
            return "public";
        case AddressClass::Loopback:
            return "loopback";
        case AddressClass::Private:
            return "private";
        case AddressClass::LinkLocal:
            return "link-local";
        case AddressClass::Metadata:
            return "metadata";
        case AddressClass::Unspecified:
            return "unspecified";
        case AddressClass::Multicast:
            return "multicast";
        case AddressClass::Reserved:
            return "reserved";
        case AddressClass::SharedCgnat:
            return "shared-cgnat";
        case AddressClass::Documentation:
            return "documentation";
        case AddressClass::Broadcast:
            return "broadcast";
    }
    return "unknown";
}

}  // namespace cloakroom::policy
