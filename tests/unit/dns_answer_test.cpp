// The DNS responder: synthetic A answers for served names only, NODATA for their other types,
// NXDOMAIN for every type of every other name (no recursion: nothing a query carries goes
// anywhere), and precise handling of malformed and oversized questions.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dns/answer.hpp"

namespace cloakroom::dns {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes query(const std::vector<std::string>& labels, std::uint16_t type, std::uint16_t id = 0x1234,
            std::uint16_t klass = kClassIn, std::uint8_t flags = 0x01) {
    Bytes out{static_cast<std::uint8_t>(id >> 8),
              static_cast<std::uint8_t>(id),
              flags,
              0,
              0,
              1,
              0,
              0,
              0,
              0,
              0,
              0};
    for (const auto& label : labels) {
        out.push_back(static_cast<std::uint8_t>(label.size()));
        out.insert(out.end(), label.begin(), label.end());
    }
    out.push_back(0);
    out.push_back(static_cast<std::uint8_t>(type >> 8));
    out.push_back(static_cast<std::uint8_t>(type));
    out.push_back(static_cast<std::uint8_t>(klass >> 8));
    out.push_back(static_cast<std::uint8_t>(klass));
    return out;
}

Answer ask(const Bytes& message, SyntheticPool& pool) {
    return answer_query(
        {message.data(), message.size()},
        [](std::string_view name) { return name == "api.example.com"; }, pool);
}

unsigned rcode_of(const Answer& a) {
    return a.response.at(3) & 0x0f;
}
unsigned answers_of(const Answer& a) {
    return (a.response.at(6) << 8) | a.response.at(7);
}

TEST(DnsAnswer, ServedNameGetsAStableSyntheticAddress) {
    SyntheticPool pool;
    const auto a = ask(query({"API", "Example", "com"}, kTypeA), pool);
    // The answer holds the question as asked (case kept), then one A record pointing at it.
    ASSERT_EQ(a.response.size(), 12u + 21u + 16u);
    ASSERT_EQ(rcode_of(a), 0u);
    ASSERT_EQ(answers_of(a), 1u);
    EXPECT_EQ(a.name, "api.example.com");
    EXPECT_TRUE(a.answered);
    EXPECT_FALSE(a.refused);
    // Header: same id, QR and AA set, RD echoed, RA clear.
    EXPECT_EQ(a.response[0], 0x12);
    EXPECT_EQ(a.response[1], 0x34);
    EXPECT_EQ(a.response[2], 0x85);
    EXPECT_EQ(a.response[3] & 0x80, 0);
    const Bytes address(a.response.end() - 4, a.response.end());
    EXPECT_EQ(address, (Bytes{198, 18, 0, 1}));
    const auto again = ask(query({"api", "example", "com"}, kTypeA, 7), pool);
    EXPECT_EQ(Bytes(again.response.end() - 4, again.response.end()), address);
    EXPECT_EQ(pool.name_of(Ipv4{198, 18, 0, 1}), "api.example.com");
}

TEST(DnsAnswer, ServedNameGetsASyntheticIpv6AddressWithTheSameIndex) {
    SyntheticPool pool;
    ask(query({"other", "example", "com"}, kTypeA), pool);
    const auto a = ask(query({"api", "example", "com"}, kTypeAaaa), pool);
    ASSERT_EQ(rcode_of(a), 0u);
    ASSERT_EQ(answers_of(a), 1u);
    const Bytes address(a.response.end() - 16, a.response.end());
    EXPECT_EQ(address, (Bytes{0xfd, 0xc1, 0x0a, 0x4b, 0x70, 0x0d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
    Ipv6 v6{};
    std::copy(address.begin(), address.end(), v6.begin());
    EXPECT_EQ(pool.name_of(v6), "api.example.com");
    v6[11] = 1;  // outside the /96 the pool uses
    EXPECT_FALSE(pool.name_of(v6));
    const auto four = ask(query({"api", "example", "com"}, kTypeA), pool);
    EXPECT_EQ(Bytes(four.response.end() - 4, four.response.end()), (Bytes{198, 18, 0, 1}));
}

TEST(DnsAnswer, ServedNameOtherTypesAreNodata) {
    SyntheticPool pool;
    for (const std::uint16_t type : {std::uint16_t{16}, std::uint16_t{65}, std::uint16_t{5}}) {
        const auto a = ask(query({"api", "example", "com"}, type), pool);
        EXPECT_EQ(rcode_of(a), 0u) << type;
        EXPECT_EQ(answers_of(a), 0u) << type;
        EXPECT_FALSE(a.refused);
    }
}

TEST(DnsAnswer, UnknownNamesAreNxdomainForEveryType) {
    SyntheticPool pool;
    for (const std::uint16_t type :
         {kTypeA, kTypeAaaa, std::uint16_t{16}, std::uint16_t{65}, kTypeAny}) {
        const auto a = ask(query({"acm_secret", "evil", "example"}, type), pool);
        EXPECT_EQ(rcode_of(a), 3u) << type;
        EXPECT_EQ(answers_of(a), 0u);
        EXPECT_TRUE(a.refused);
    }
    // A suffix or prefix of a served name is another name.
    EXPECT_EQ(rcode_of(ask(query({"x", "api", "example", "com"}, kTypeA), pool)), 3u);
    EXPECT_EQ(rcode_of(ask(query({"example", "com"}, kTypeA), pool)), 3u);
    // A label holding a dot is not two labels.
    EXPECT_EQ(rcode_of(ask(query({"api.example", "com"}, kTypeA), pool)), 3u);
}

TEST(DnsAnswer, NameAndLabelLimits) {
    SyntheticPool pool;
    // 63 bytes is a label; 64 is not.
    const auto ok = ask(query({std::string(63, 'a'), "com"}, kTypeA), pool);
    EXPECT_EQ(rcode_of(ok), 3u);
    Bytes long_label = query({std::string(63, 'a'), "com"}, kTypeA);
    long_label[12] = 64;  // claims 64: an extended label type, refused
    EXPECT_EQ(rcode_of(ask(long_label, pool)), 1u);
    // 4 labels of 63: 256 bytes on the wire with the root.
    const std::string l63(63, 'b');
    const auto too_long = ask(query({l63, l63, l63, l63}, kTypeA), pool);
    EXPECT_EQ(rcode_of(too_long), 1u);
    EXPECT_TRUE(too_long.refused);
}

TEST(DnsAnswer, MalformedQueries) {
    SyntheticPool pool;
    EXPECT_TRUE(ask(Bytes{1, 2, 3}, pool).response.empty());  // no header: silence
    Bytes response = query({"api", "example", "com"}, kTypeA, 1, kClassIn, 0x81);
    EXPECT_TRUE(ask(response, pool).response.empty());  // QR set: never answer a response
    Bytes notify = query({"api", "example", "com"}, kTypeA, 1, kClassIn, 0x20);  // opcode 4
    EXPECT_EQ(rcode_of(ask(notify, pool)), 4u);
    Bytes two = query({"api", "example", "com"}, kTypeA);
    two[5] = 2;
    EXPECT_EQ(rcode_of(ask(two, pool)), 1u);
    Bytes pointer = query({"api"}, kTypeA);
    pointer[12] = 0xc0;
    EXPECT_EQ(rcode_of(ask(pointer, pool)), 1u);
    EXPECT_EQ(rcode_of(ask(query({"api", "example", "com"}, kTypeA, 1, 3), pool)), 5u);  // CH
    // Every truncation of a good query is answered FORMERR or not at all, never read past.
    const Bytes good = query({"api", "example", "com"}, kTypeA);
    for (std::size_t n = 0; n < good.size(); ++n) {
        const auto a = ask(Bytes(good.begin(), good.begin() + static_cast<long>(n)), pool);
        EXPECT_FALSE(a.answered) << n;
        if (!a.response.empty()) {
            EXPECT_EQ(rcode_of(a), 1u) << n;
        }
    }
}

TEST(DnsAnswer, OddBytesCannotMatchAServedName) {
    SyntheticPool pool;
    const auto a = ask(query({"api", std::string("exa\0mple", 8), "com"}, kTypeA), pool);
    EXPECT_EQ(a.name, "api.exa\\000mple.com");
    EXPECT_EQ(rcode_of(a), 3u);
}

TEST(SyntheticPool, FullPoolAndRange) {
    SyntheticPool pool(2);
    EXPECT_EQ(pool.address_for("a"), (Ipv4{198, 18, 0, 1}));
    EXPECT_EQ(pool.address_for("b"), (Ipv4{198, 18, 0, 2}));
    EXPECT_FALSE(pool.address_for("c"));
    EXPECT_EQ(pool.address_for("a"), (Ipv4{198, 18, 0, 1}));
    EXPECT_FALSE(pool.name_of(Ipv4{198, 18, 0, 3}));
    EXPECT_FALSE(pool.name_of(Ipv4{10, 18, 0, 1}));
    EXPECT_TRUE(SyntheticPool::in_range(Ipv4{198, 19, 255, 254}));
    EXPECT_FALSE(SyntheticPool::in_range(Ipv4{198, 20, 0, 1}));
}

}  // namespace
}  // namespace cloakroom::dns
