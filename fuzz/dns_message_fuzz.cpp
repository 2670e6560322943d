// libFuzzer target for the DNS responder (dns/answer.hpp, dns/message.hpp): any bytes a
// sandbox sends to its DNS listener. Besides "no crash": an answer is never longer than the
// query plus one A record, keeps the query's id, and only a served name gets an address.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "dns/answer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    cloakroom::dns::SyntheticPool pool(4);
    const auto answer = cloakroom::dns::answer_query(
        {data, size}, [](std::string_view name) { return name == "api.example.com"; }, pool);
    if (answer.response.empty()) return 0;
    if (answer.response.size() > size + 16) std::abort();
    if (size >= 2 && (answer.response[0] != data[0] || answer.response[1] != data[1])) {
        std::abort();
    }
    if (answer.answered && answer.name != "api.example.com") std::abort();
    return 0;
}
