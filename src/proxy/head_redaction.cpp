#include "proxy/head_redaction.hpp"

#include <openssl/crypto.h>

#include <string>

namespace cloakroom::proxy {

void redact_header_values(http::Head& header, const std::vector<std::string_view>& needles) {
    redact_header_values(header, CompiledNeedles(needles));
}

void redact_header_values(http::Head& header, const CompiledNeedles& needles) {
    // Almost every response echoes nothing: look first, rewrite only what matches. A head not
    // edited since it was parsed has every value inside the bytes received, so one look at
    // those bytes clears them all (a match across a field boundary only costs the loop).
    if (needles.empty()) return;
    if (!header.edited() && !needles.contains(header.received())) return;
    for (std::size_t i = 0; i < header.fields().size(); ++i) {
        const std::string_view value = header.fields()[i].value;
        if (!needles.contains(value)) continue;
        Redactor redactor = needles.redactor();
        header.replace_value(i, redactor.redact(value));
    }
}

bool redact_response_head(http::Head& head, const std::vector<std::string_view>& needles) {
    return redact_response_head(head, CompiledNeedles(needles));
}

bool redact_response_head(http::Head& head, const CompiledNeedles& needles) {
    if (needles.empty()) return true;
    // Almost every response echoes nothing: one look at the bytes received clears the whole head
    // when nothing was set since parsing. Text the proxy set itself is looked at part by part.
    const bool in_received = needles.contains(head.received());
    if (!head.edited() && !in_received) return true;
    const auto redacted = [&](std::string_view text) { return needles.redactor().redact(text); };
    if (needles.contains(head.reason())) head.set_reason(redacted(head.reason()));
    for (std::size_t i = 0; i < head.fields().size(); ++i) {
        if (needles.contains(head.fields()[i].name)) {
            head.replace_name(i, redacted(head.fields()[i].name));
        }
        if (needles.contains(head.fields()[i].value)) {
            head.replace_value(i, redacted(head.fields()[i].value));
        }
    }
    // A needle across parts was in the received bytes too; only then is the whole head looked at
    // once more, as it would be written.
    if (!in_received) return true;
    std::string written;
    head.append_response(written);
    const bool clean = !needles.contains(written);
    if (!written.empty()) OPENSSL_cleanse(written.data(), written.size());
    return clean;
}

}  // namespace cloakroom::proxy
