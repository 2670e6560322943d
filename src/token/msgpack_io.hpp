// Thin msgpack layer for the token codec: a canonical writer (msgpack-cxx's packer already picks
// the smallest integer/str/bin/array forms, with unsigned families for non-negative values, which
// is exactly the reference encoding, README §3.6) and a bounded one-value reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>

#include "util/result.hpp"

namespace cloakroom::token::detail {

// Appends canonical msgpack to an internal buffer.
class Writer {
  public:
    Writer();
    void array_header(std::size_t count);
    void uint(std::uint64_t value);
    void sint(std::int64_t value);
    void str(std::string_view text);
    void bin(std::string_view bytes);
    void nil();
    void boolean(bool value);
    void raw(std::string_view encoded);  // an already-encoded value
    std::string take() { return std::move(sink_.out); }

  private:
    struct Sink {
        std::string out;
        void write(const char* data, std::size_t size) { out.append(data, size); }
    };
    Sink sink_;
    msgpack::packer<Sink> packer_;
};

// Largest encoded macaroon (or caveat set) accepted; far above any real token, small enough that
// a hostile header cannot make the decoder work hard.
inline constexpr std::size_t kMaxEncodedBytes = 64 * 1024;

// Parses exactly one msgpack value starting at `offset` and advances it. Size and depth limits
// reject huge declared lengths before anything is allocated. Never throws; errors are readable
// ("unexpected end of data", "array of 70000 elements exceeds the limit", ...).
Result<msgpack::object_handle> unpack_one(std::string_view data, std::size_t& offset);

// The exact byte slices of the elements of an encoded array (data must start with the array
// header and hold a value that unpack_one already accepted).
Result<std::vector<std::string_view>> array_element_slices(std::string_view data);

// "array of 3", "str", "positive integer", ... for error messages.
std::string describe(const msgpack::object& object);

}  // namespace cloakroom::token::detail
