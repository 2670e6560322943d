// The operations settings of cloakroom.toml: [admin] and the limit keys of [[service]],
// [[database]] and [limits] (docs/operations.md).
#include <charconv>

#include "config/authority.hpp"
#include "config/load_state.hpp"

namespace cloakroom::config::detail {
namespace {

// Limits far beyond anything sane are typos (a missing "/s" parsed as a count, a ms value).
constexpr std::uint64_t kMaxLimit = 1'000'000'000;

std::optional<std::uint64_t> read_count(TableReader& reader, std::string_view key) {
    const toml::node* node = reader.node(key);
    if (node == nullptr) return std::nullopt;
    const auto* integer = node->as_integer();
    if (integer == nullptr) {
        reader.wrong_type(key, "an integer");
        return std::nullopt;
    }
    const std::int64_t value = integer->get();
    if (value < 1 || static_cast<std::uint64_t>(value) > kMaxLimit) {
        reader.error(key, std::string(key) + " must be between 1 and 1000000000");
        return std::nullopt;
    }
    return static_cast<std::uint64_t>(value);
}

std::optional<Rate> read_rate(TableReader& reader, std::string_view key) {
    auto text = reader.string(key);
    if (!text) return std::nullopt;
    auto rate = parse_rate(text->value);
    if (!rate.ok()) {
        reader.error(key, std::string(key) + ": " + rate.error().message);
        return std::nullopt;
    }
    return *rate;
}

}  // namespace

void read_limits(TableReader& reader, Limits& limits) {
    if (auto rate = read_rate(reader, "rate")) limits.rate = rate;
    if (auto count = read_count(reader, "concurrency")) limits.concurrency = count;
    if (auto rate = read_rate(reader, "token_rate")) limits.token_rate = rate;
    if (auto count = read_count(reader, "token_concurrency")) limits.token_concurrency = count;
    if (auto count = read_count(reader, "token_budget")) limits.token_budget = count;
}

void apply_admin(const toml::table& table, const Document& document, LoadState& state) {
    TableReader reader(table, document.file, "[admin]", state.diagnostics);
    AdminConfig& admin = state.config.admin;
    if (auto listen = reader.string("listen")) {
        auto parsed = parse_listen_address(listen->value);
        if (!parsed.ok()) {
            reader.error("listen", "listen " + parsed.error().message);
        } else if (!is_loopback_listen_host(parsed->host)) {
            // The admin API revokes tokens and reloads the gateway: never on a network.
            reader.error("listen", "listen \"" + listen->value +
                                       "\" must be a loopback address (127.0.0.1 or [::1])");
        } else {
            admin.listen = ListenerConfig{parsed->text(), parsed->host, *parsed->port};
        }
    }
    if (auto socket = reader.string("socket")) {
        state.admin_socket_set = true;
        if (socket->value.empty()) {
            admin.socket.clear();  // disabled
        } else if (auto path = read_path(reader, "socket", document, state.env)) {
            admin.socket = *path;
        }
    }
    reader.finish();
}
}  // namespace cloakroom::config::detail

namespace cloakroom::config {

Result<Rate> parse_rate(std::string_view text) {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        return make_error("config.rate", "\"" + std::string(text) +
                                             "\" is not a rate: write COUNT/UNIT, e.g. \"10/s\", "
                                             "\"600/min\", \"1000/h\"");
    }
    const std::string_view number = text.substr(0, slash);
    const std::string_view unit = text.substr(slash + 1);
    std::uint64_t count = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), count);
    if (ec != std::errc() || end != number.data() + number.size() || count == 0 ||
        count > detail::kMaxLimit) {
        return make_error("config.rate", "\"" + std::string(text) +
                                             "\": the count must be a whole number from 1 to "
                                             "1000000000");
    }
    Rate rate;
    rate.count = count;
    rate.text = std::string(text);
    if (unit == "s" || unit == "sec" || unit == "second") {
        rate.period = std::chrono::seconds(1);
    } else if (unit == "m" || unit == "min" || unit == "minute") {
        rate.period = std::chrono::seconds(60);
    } else if (unit == "h" || unit == "hour") {
        rate.period = std::chrono::seconds(3600);
    } else {
        return make_error("config.rate",
                          "\"" + std::string(text) + "\": the unit must be s, min or h");
    }
    return rate;
}

}  // namespace cloakroom::config
