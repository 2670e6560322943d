#include "secrets/resolver.hpp"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "secrets/exec_provider.hpp"
#include "secrets/file_provider.hpp"
#include "secrets/ref_rules.hpp"
#include "secrets/secret_buffer.hpp"
#include "secrets/value_rules.hpp"

namespace cloakroom::secrets {
namespace {

Result<SecretBuffer> read_env(const std::string& name, std::string_view source) {
    const char* raw = std::getenv(name.c_str());
    if (raw == nullptr) {
        return make_error("secret.missing",
                          std::string(source) + ": environment variable " + name + " is not set");
    }
    const std::size_t length = std::strlen(raw);
    if (length > kMaxSecretBytes) {
        return make_error("secret.invalid", std::string(source) + ": environment variable " + name +
                                                " is larger than " +
                                                std::to_string(kMaxSecretBytes) + " bytes");
    }
    SecretBuffer buffer(length);
    std::memcpy(buffer.data(), raw, length);
    buffer.set_size(length);
    return buffer;
}

Result<SecretBuffer> read_raw(const SecretSources& sources, const SecretRef& ref,
                              const std::string& source, std::vector<SecretWarning>* warnings) {
    switch (ref.provider) {
        case Provider::File: {
            if (auto valid = validate_secret_id("file", ref.name); !valid) return valid.error();
            return read_secret_file(sources.file_root, ref.name, FileRules{}, source, warnings);
        }
        case Provider::Systemd: {
            if (auto valid = validate_secret_id("systemd", ref.name); !valid) {
                return valid.error();
            }
            if (!sources.credentials_directory) {
                return make_error("secret.missing",
                                  source +
                                      ": CREDENTIALS_DIRECTORY is not set (systemd credentials "
                                      "need LoadCredential= or SetCredential= on the unit)");
            }
            // systemd makes the directory and files read-only for the service user.
            const FileRules rules{0500, 0400, "credentials directory"};
            return read_secret_file(*sources.credentials_directory, ref.name, rules, source,
                                    warnings);
        }
        case Provider::Env: {
            if (auto valid = validate_env_name(ref.name); !valid) return valid.error();
            return read_env(ref.name, source);
        }
        case Provider::Exec: {
            // A hand-built ref may carry only the command line; split it the same way the
            // parser does.
            std::vector<std::string> argv = ref.argv;
            if (argv.empty()) {
                auto split = split_exec_command(ref.name);
                if (!split) return split.error();
                argv = std::move(*split);
            } else if (auto valid = validate_exec_argv(argv); !valid) {
                return valid.error();
            }
            return run_secret_command(argv, sources.exec_timeout, source);
        }
    }
    return make_error("secret.ref", source + ": unknown provider");
}

SecretStatus::Status status_for(const std::string& code) {
    if (code == "secret.missing") return SecretStatus::Missing;
    if (code == "secret.invalid") return SecretStatus::Invalid;
    return SecretStatus::Error;
}

}  // namespace

std::string_view to_string(SecretStatus::Status status) {
    switch (status) {
        case SecretStatus::Ok:
            return "ok";
        case SecretStatus::Missing:
            return "missing";
        case SecretStatus::UnsafePermissions:
            return "unsafe_permissions";
        case SecretStatus::Invalid:
            return "invalid";
        case SecretStatus::Error:
            return "error";
    }
    return "error";
}

SecretResolver::SecretResolver(SecretSources sources) : sources_(std::move(sources)) {
    if (!sources_.credentials_directory) {
        // systemd sets this once per service start, so reading it at construction is enough.
        if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir != nullptr && *dir != 0) {
            sources_.credentials_directory = std::filesystem::path(dir);
        }
    }
}

Result<SecretValue> SecretResolver::resolve(const SecretRef& ref,
                                            std::vector<SecretWarning>* warnings) const {
    const std::string source = ref.text();
    auto raw = read_raw(sources_, ref, source, warnings);
    if (!raw) return raw.error();
    if (auto valid = apply_value_rules(*raw, source); !valid) return valid.error();
    return raw->take();
}

std::vector<SecretStatus> SecretResolver::check(const std::vector<SecretRef>& refs) const {
    std::vector<SecretStatus> out;
    out.reserve(refs.size());
    for (const auto& ref : refs) {
        SecretStatus status;
        status.ref = ref;
        {
            auto result = resolve(ref, &status.warnings);
            if (!result) {
                status.status = status_for(result.error().code);
                status.error_code = result.error().code;
                status.detail = result.error().message;
            }
        }  // the value (if any) is wiped here, before anything else happens
        if (status.status == SecretStatus::Ok && !status.warnings.empty()) {
            status.status = SecretStatus::UnsafePermissions;
            for (const auto& warning : status.warnings) {
                if (!status.detail.empty()) status.detail += "; ";
                status.detail += warning.message;
            }
        }
        out.push_back(std::move(status));
    }
    return out;
}

}  // namespace cloakroom::secrets
