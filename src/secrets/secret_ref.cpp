#include "secrets/secret_ref.hpp"

#include <array>
#include <cstdio>
#include <optional>
#include <utility>

#include "secrets/ref_rules.hpp"

namespace cloakroom::secrets {
namespace {

constexpr std::string_view kRefError = "secret.ref";
constexpr std::string_view kWhitespace = " \t\n\r\v\f";

bool is_id_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool is_env_char(char c, bool first) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_') return true;
    return !first && c >= '0' && c <= '9';
}

// Names the offending character without dumping the input: printable ASCII is shown, anything
// else as a hex byte, so the message stays one readable line.
std::string describe_char(char c) {
    const auto byte = static_cast<unsigned char>(c);
    std::array<char, 16> buf{};
    if (byte >= 0x21 && byte < 0x7f) {
        std::snprintf(buf.data(), buf.size(), "'%c'", c);
    } else {
        std::snprintf(buf.data(), buf.size(), "byte 0x%02x", byte);
    }
    return buf.data();
}

std::optional<Provider> provider_from_name(std::string_view name) {
    if (name == "file") return Provider::File;
    if (name == "env") return Provider::Env;
    if (name == "exec") return Provider::Exec;
    if (name == "systemd") return Provider::Systemd;
    return std::nullopt;
}

// A reference with a typo in the provider may really be a secret pasted where a reference belongs,
// so only echo the provider name when it looks like one (short, lowercase letters).
bool safe_to_echo_provider(std::string_view name) {
    if (name.empty() || name.size() > 16) return false;
    for (char c : name) {
        if (c < 'a' || c > 'z') return false;
    }
    return true;
}

std::string join(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& arg : argv) {
        if (!out.empty()) out += ' ';
        out += arg;
    }
    return out;
}

}  // namespace

std::string_view provider_name(Provider provider) {
    switch (provider) {
        case Provider::File:
            return "file";
        case Provider::Env:
            return "env";
        case Provider::Exec:
            return "exec";
        case Provider::Systemd:
            return "systemd";
    }
    return "unknown";
}

Result<void> validate_secret_id(std::string_view provider, std::string_view id) {
    const std::string what = std::string(provider) + " secret ID";
    if (id.empty()) return make_error(std::string(kRefError), what + " is empty");
    if (id == "." || id == "..") {
        return make_error(std::string(kRefError),
                          what + " must not be '.' or '..' (it must name a file in the directory)");
    }
    for (std::size_t i = 0; i < id.size(); ++i) {
        if (!is_id_char(id[i])) {
            std::string msg = what + " has " + describe_char(id[i]) + " at offset " +
                              std::to_string(i) + "; allowed characters are [A-Za-z0-9._-]";
            if (id[i] == '/') msg += " (an ID names a direct child of the directory, not a path)";
            return make_error(std::string(kRefError), std::move(msg));
        }
    }
    return {};
}

Result<void> validate_env_name(std::string_view name) {
    if (name.empty()) return make_error(std::string(kRefError), "env variable name is empty");
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!is_env_char(name[i], i == 0)) {
            return make_error(std::string(kRefError),
                              "env variable name has " + describe_char(name[i]) + " at offset " +
                                  std::to_string(i) + "; names must match [A-Za-z_][A-Za-z0-9_]*");
        }
    }
    return {};
}

Result<void> validate_exec_argv(const std::vector<std::string>& argv) {
    if (argv.empty() || argv.front().empty()) {
        return make_error(std::string(kRefError), "exec reference has no command");
    }
    for (std::size_t i = 0; i < argv.size(); ++i) {
        // argv reaches execve() as C strings: an embedded NUL would silently truncate it.
        if (argv[i].find('\0') != std::string::npos) {
            return make_error(std::string(kRefError),
                              "exec argument " + std::to_string(i) + " contains a NUL byte");
        }
    }
    const std::string& program = argv.front();
    // A relative path with a slash would depend on the gateway's working directory.
    if (program.find('/') != std::string::npos && program.front() != '/') {
        return make_error(std::string(kRefError),
                          "exec command '" + program +
                              "' must be an absolute path or a bare name looked up in PATH");
    }
    return {};
}

Result<std::vector<std::string>> split_exec_command(std::string_view command) {
    std::vector<std::string> argv;
    std::size_t pos = 0;
    while (true) {
        const std::size_t start = command.find_first_not_of(kWhitespace, pos);
        if (start == std::string_view::npos) break;
        const std::size_t end = command.find_first_of(kWhitespace, start);
        argv.emplace_back(command.substr(start, end == std::string_view::npos ? end : end - start));
        if (end == std::string_view::npos) break;
        pos = end;
    }
    if (auto valid = validate_exec_argv(argv); !valid) return valid.error();
    return argv;
}

std::string SecretRef::text() const {
    std::string out(provider_name(provider));
    out += ':';
    out += (provider == Provider::Exec && name.empty()) ? join(argv) : name;
    return out;
}

Result<SecretRef> make_secret_ref(std::string_view provider, std::string_view name) {
    const auto kind = provider_from_name(provider);
    if (!kind) {
        std::string msg = "unknown secret provider";
        if (safe_to_echo_provider(provider)) msg += " '" + std::string(provider) + "'";
        msg += " (expected file, env, exec or systemd)";
        return make_error(std::string(kRefError), std::move(msg));
    }
    SecretRef ref;
    ref.provider = *kind;
    switch (*kind) {
        case Provider::File:
        case Provider::Systemd:
            if (auto valid = validate_secret_id(provider, name); !valid) return valid.error();
            ref.name = std::string(name);
            break;
        case Provider::Env:
            if (auto valid = validate_env_name(name); !valid) return valid.error();
            ref.name = std::string(name);
            break;
        case Provider::Exec: {
            auto argv = split_exec_command(name);
            if (!argv) return argv.error();
            ref.argv = std::move(*argv);
            // Normalised so that two spellings of the same command compare equal.
            ref.name = join(ref.argv);
            break;
        }
    }
    return ref;
}

Result<SecretRef> parse_secret_ref(std::string_view text) {
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) {
        // Deliberately not echoed: a bare string here is often a secret pasted in by mistake.
        return make_error(std::string(kRefError),
                          "secret reference has no provider prefix (expected file:ID, env:NAME, "
                          "exec:COMMAND or systemd:ID)");
    }
    return make_secret_ref(text.substr(0, colon), text.substr(colon + 1));
}

}  // namespace cloakroom::secrets
