// The cloakroom.toml credential table:
//   credential = { type = "bearer", secret = "file:stripe.key" }
// Keys that do not apply to the chosen type are errors: a stray `param` on a bearer credential
// means the author expected something that will not happen.
#include <algorithm>
#include <array>

#include "config/load_state.hpp"

namespace cloakroom::config::detail {
namespace {

struct TypeInfo {
    std::string_view name;
    CredentialType type;
    std::vector<std::string_view> keys;  // besides "type"
};

const std::array<TypeInfo, 5>& types() {
    static const std::array<TypeInfo, 5> kTypes{{
        {"bearer", CredentialType::Bearer, {"secret"}},
        {"basic", CredentialType::Basic, {"secret", "username", "username_secret"}},
        {"header", CredentialType::Header, {"secret", "header", "prefix"}},
        {"query", CredentialType::Query, {"secret", "param"}},
        {"template", CredentialType::Template, {"secret", "header", "template"}},
    }};
    return kTypes;
}

constexpr std::array<std::string_view, 7> kAllKeys{
    "secret", "username", "username_secret", "header", "prefix", "param", "template"};

bool is_tchar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool has_control(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return (byte < 0x20 && c != '\t') || byte == 0x7f;
    });
}

// Headers whose value decides message framing or routing: injecting into them would let a
// config typo (or a secret's content) change where and how requests go.
bool is_reserved_header(std::string_view name) {
    static constexpr std::array<std::string_view, 9> kReserved{
        "host", "content-length", "transfer-encoding", "connection", "upgrade",
        "te",   "trailer",        "keep-alive",        "expect"};
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
    return std::find(kReserved.begin(), kReserved.end(), lower) != kReserved.end() ||
           lower.starts_with("proxy-");
}

std::size_t count_occurrences(std::string_view text, std::string_view needle) {
    std::size_t count = 0;
    for (std::size_t at = text.find(needle); at != std::string_view::npos;
         at = text.find(needle, at + needle.size())) {
        ++count;
    }
    return count;
}

}  // namespace

std::optional<Credential> read_credential(const toml::table& table, const TableReader& parent) {
    TableReader reader(table, parent.file(), parent.context(), parent.diagnostics());
    auto type_text = reader.string("type");
    // Every key is read up front so unknown ones are told apart from ones for another type.
    std::vector<std::string_view> present;
    for (std::string_view key : kAllKeys) {
        if (reader.node(key) != nullptr) present.push_back(key);
    }
    reader.finish();
    if (!type_text) {
        if (table.get("type") == nullptr) {
            reader.error("credential needs a type: bearer, basic, header, query or template");
        }
        return std::nullopt;
    }
    const auto& all = types();
    const auto info = std::find_if(all.begin(), all.end(),
                                   [&](const TypeInfo& t) { return t.name == type_text->value; });
    if (info == all.end()) {
        reader.error("type", "credential type \"" + type_text->value +
                                 "\" is not one of bearer, basic, header, query, template");
        return std::nullopt;
    }

    bool ok = true;
    for (std::string_view key : present) {
        if (std::find(info->keys.begin(), info->keys.end(), key) == info->keys.end()) {
            reader.error(key, "credential key \"" + std::string(key) +
                                  "\" does not apply to type \"" + std::string(info->name) + "\"");
            ok = false;
        }
    }
    auto has = [&](std::string_view key) {
        return std::find(present.begin(), present.end(), key) != present.end();
    };
    auto require = [&](std::string_view key) {
        if (has(key)) return true;
        reader.error(std::string(info->name) + " credential needs " + std::string(key));
        ok = false;
        return false;
    };

    Credential credential;
    credential.type = info->type;
    if (has("secret")) {
        credential.secret = read_secret_ref(reader, "secret");
        if (!credential.secret) ok = false;
    }

    switch (info->type) {
        case CredentialType::Bearer:
            require("secret");
            break;
        case CredentialType::Basic: {
            if (has("username") == has("username_secret")) {
                reader.error(
                    "basic credential needs exactly one of username (text) and "
                    "username_secret (a secret reference)");
                ok = false;
            }
            if (auto username = reader.string("username")) {
                if (username->value.empty() || username->value.find(':') != std::string::npos ||
                    has_control(username->value)) {
                    reader.error("username",
                                 "username must be non-empty without ':' or control characters");
                    ok = false;
                }
                credential.username = username->value;
            }
            if (has("username_secret")) {
                credential.username_secret = read_secret_ref(reader, "username_secret");
                if (!credential.username_secret) ok = false;
            }
            if (!has("secret") && !has("username_secret")) {
                reader.error(
                    "basic credential has no secret: set secret (the password) or "
                    "username_secret");
                ok = false;
            }
            break;
        }
        case CredentialType::Header:
        case CredentialType::Template: {
            const bool is_template = info->type == CredentialType::Template;
            credential.header = "Authorization";  // the template default
            if (!is_template) require("header");
            if (auto header = reader.string("header")) {
                const std::string& name = header->value;
                if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) {
                    reader.error("header", "header \"" + name + "\" is not a valid header name");
                    ok = false;
                } else if (is_reserved_header(name)) {
                    reader.error("header", "header \"" + name +
                                               "\" controls routing or framing and cannot carry "
                                               "a credential");
                    ok = false;
                }
                credential.header = name;
            }
            if (auto prefix = reader.string("prefix")) {
                if (has_control(prefix->value)) {
                    reader.error("prefix", "prefix contains a control character");
                    ok = false;
                }
                credential.prefix = prefix->value;
            }
            if (is_template && require("template")) {
                if (auto text = reader.string("template")) {
                    if (count_occurrences(text->value, "{secret}") != 1) {
                        reader.error("template", "template must contain {secret} exactly once");
                        ok = false;
                    } else if (has_control(text->value)) {
                        reader.error("template", "template contains a control character");
                        ok = false;
                    }
                    credential.template_text = text->value;
                } else {
                    ok = false;
                }
            }
            require("secret");
            break;
        }
        case CredentialType::Query: {
            if (require("param")) {
                if (auto param = reader.string("param")) {
                    const bool valid =
                        !param->value.empty() &&
                        std::all_of(param->value.begin(), param->value.end(), [](char c) {
                            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                   (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                                   c == '~';
                        });
                    if (!valid) {
                        reader.error("param", "param \"" + param->value +
                                                  "\" must be letters, digits, '-', '.', '_' or "
                                                  "'~'");
                        ok = false;
                    }
                    credential.param = param->value;
                } else {
                    ok = false;
                }
            }
            require("secret");
            break;
        }
    }
    if (!ok) return std::nullopt;
    return credential;
}

}  // namespace cloakroom::config::detail
