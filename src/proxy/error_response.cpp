#include "proxy/error_response.hpp"

#include <string>

#include <nlohmann/json.hpp>

namespace cloakroom::proxy {

namespace http = boost::beast::http;

std::string error_body(std::string_view error, std::string_view reason) {
    const nlohmann::json body = {{"error", error}, {"reason", reason}};
    // replace: reasons quote request text (hosts, paths) that may not be UTF-8; dump() would
    // otherwise throw.
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

http::response<http::string_body> make_error_response(unsigned status, std::string_view error,
                                                      std::string_view reason, unsigned version,
                                                      bool keep_alive) {
    http::response<http::string_body> response{static_cast<http::status>(status), version};
    response.set(http::field::server, "cloakroom");
    response.set(http::field::content_type, "application/json");
    response.set(kErrorHeader, error);
    // Gateway decisions are per request and token; a cache must never replay one.
    response.set(http::field::cache_control, "no-store");
    response.body() = error_body(error, reason);
    response.keep_alive(keep_alive);
    response.prepare_payload();
    return response;
}

}  // namespace cloakroom::proxy
