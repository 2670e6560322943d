#include "runtime/revocation_list.hpp"

#include <nlohmann/json.hpp>

#include <limits>
#include <variant>

namespace cloakroom::runtime {
namespace {

Error invalid(std::size_t line, std::string_view why) {
    return make_error("revocations.invalid", "revocation record on line " + std::to_string(line) +
                                                 ": " + std::string(why));
}

Result<RevocationRecord> parse_line(std::string_view text, std::size_t line) {
    const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) return invalid(line, "not valid JSON");
    if (!json.is_object()) return invalid(line, "not a JSON object");
    RevocationRecord record;
    bool has_time = false;
    for (const auto& [key, value] : json.items()) {
        if (key == "revoked_at") {
            if (!value.is_number_integer())
                return invalid(line, "\"revoked_at\" must be an integer");
            record.revoked_at = value.get<std::int64_t>();
            has_time = true;
        } else if (key == "token_id") {
            if (!value.is_string()) return invalid(line, "\"token_id\" must be a string");
            record.token_id = value.get<std::string>();
            if (auto problem = check_token_id(record.token_id); !problem.empty()) {
                return invalid(line, "\"token_id\": " + problem);
            }
        } else if (key == "before") {
            if (!value.is_number_integer()) return invalid(line, "\"before\" must be an integer");
            record.before = value.get<std::int64_t>();
        } else if (key == "reason") {
            if (!value.is_string()) return invalid(line, "\"reason\" must be a string");
            record.reason = value.get<std::string>();
            if (auto problem = check_reason(record.reason); !problem.empty()) {
                return invalid(line, "\"reason\": " + problem);
            }
        } else {
            return invalid(line, "unknown field \"" + key.substr(0, 40) + "\"");
        }
    }
    if (!has_time) return invalid(line, "\"revoked_at\" is missing");
    if (record.token_id.empty() == !record.before.has_value()) {
        return invalid(line, "needs exactly one of \"token_id\" and \"before\"");
    }
    return record;
}

}  // namespace

std::string check_token_id(std::string_view id) {
    if (id.size() != kTokenIdLength) {
        return "a token id is " + std::to_string(kTokenIdLength) + " hex digits, not " +
               std::to_string(id.size()) + " characters";
    }
    for (const char c : id) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return "a token id is lower-case hex (0-9, a-f)";
        }
    }
    return {};
}

std::string check_reason(std::string_view reason) {
    if (reason.size() > kMaxRevocationReason) {
        return "at most " + std::to_string(kMaxRevocationReason) + " bytes";
    }
    for (const char c : reason) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) return "control characters are not allowed";
    }
    return {};
}

std::string format_revocation(const RevocationRecord& record) {
    nlohmann::ordered_json json;
    json["revoked_at"] = record.revoked_at;
    if (record.before) {
        json["before"] = *record.before;
    } else {
        json["token_id"] = record.token_id;
    }
    if (!record.reason.empty()) json["reason"] = record.reason;
    return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::optional<std::int64_t> mint_time(const std::vector<token::Caveat>& caveats) {
    std::optional<std::int64_t> earliest;
    for (const auto& caveat : caveats) {
        if (const auto* window = std::get_if<token::ValidityWindow>(&caveat)) {
            if (!earliest || window->not_before < *earliest) earliest = window->not_before;
        }
    }
    return earliest;
}

Result<RevocationList> RevocationList::parse(std::string_view text) {
    RevocationList list;
    std::size_t line = 0;
    while (!text.empty()) {
        const auto end = text.find('\n');
        if (end == std::string_view::npos) break;  // incomplete last line: not a record yet
        ++line;
        std::string_view current = text.substr(0, end);
        text.remove_prefix(end + 1);
        if (!current.empty() && current.back() == '\r') current.remove_suffix(1);
        if (current.find_first_not_of(" \t") == std::string_view::npos) continue;
        auto record = parse_line(current, line);
        if (!record.ok()) return record.error();
        list.add(std::move(*record));
    }
    return list;
}

void RevocationList::add(RevocationRecord record) {
    const std::size_t index = records_.size();
    if (record.before) {
        if (!latest_before_ || *record.before > *records_[*latest_before_].before) {
            latest_before_ = index;
        }
    } else {
        by_id_.emplace(record.token_id, index);
    }
    records_.push_back(std::move(record));
}

const RevocationRecord* RevocationList::find(std::string_view token_id,
                                             std::optional<std::int64_t> minted) const {
    if (records_.empty()) return nullptr;
    if (!by_id_.empty()) {
        if (auto found = by_id_.find(token_id); found != by_id_.end()) {
            return &records_[found->second];
        }
    }
    if (latest_before_) {
        const RevocationRecord& cutoff = records_[*latest_before_];
        if (!minted || *minted < *cutoff.before) return &cutoff;
    }
    return nullptr;
}

}  // namespace cloakroom::runtime
