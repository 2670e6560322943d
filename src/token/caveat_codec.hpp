// Caveat bodies <-> msgpack (README §3.5). Internal to the token module.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <msgpack.hpp>

#include "token/caveat.hpp"
#include "token/msgpack_io.hpp"
#include "util/result.hpp"

namespace cloakroom::token::detail {

void write_caveat_body(Writer& writer, const Caveat& caveat);

// `raw` is the exact encoded body (kept verbatim for unknown types). Error messages name the
// problem without position ("APIHost body must be an array of 1 element, got map of 1").
Result<Caveat> read_caveat_body(std::uint64_t type, const msgpack::object& body,
                                std::string_view raw);

// Whether read_caveat_array needs the array's bytes (some caveat type is unknown and is kept
// verbatim); when not, callers may pass an empty `raw` and skip finding it.
bool caveat_array_needs_raw(const msgpack::object& array);

// Decodes a flat caveat array given its object and exact bytes; errors are prefixed with
// "caveat N: " (1-based).
Result<std::vector<Caveat>> read_caveat_array(const msgpack::object& array, std::string_view raw);

}  // namespace cloakroom::token::detail
