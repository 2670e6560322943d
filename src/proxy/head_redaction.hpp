// Redaction of an HTTP head: the streaming redactor (secrets/redactor.hpp) applied to each part
// of a response head an upstream chose (docs/architecture.md, invariant 1).
#pragma once

#include <string_view>
#include <vector>

#include "http/head.hpp"
#include "secrets/redactor.hpp"

namespace cloakroom::proxy {

using secrets::CompiledNeedles;
using secrets::Redactor;

// Redacts needles inside response header values (e.g. an upstream echoing the Authorization it
// received). Field order and names are kept; only values that contained a needle change.
// Superseded for responses by redact_response_head, which also covers names and the reason.
void redact_header_values(http::Head& header, const std::vector<std::string_view>& needles);
void redact_header_values(http::Head& header, const CompiledNeedles& needles);

// Redacts every part of a response head the upstream chose: the reason phrase, each field name
// and each field value (a name becomes '*'s, still a token; the reason stays printable). Only
// the parts that hold a needle change. Returns false when a needle still occurs in the head as
// it would be written, i.e. an occurrence spans two parts (a name and its value across ": ", or
// the status code and the reason) so no per-part rewrite can hide it without breaking the head:
// the caller must not relay the head (answer 502). With no needle the head is untouched, true.
bool redact_response_head(http::Head& head, const CompiledNeedles& needles);
bool redact_response_head(http::Head& head, const std::vector<std::string_view>& needles);

}  // namespace cloakroom::proxy
