#include "sandbox/browser_shims.hpp"

namespace cloakroom::sandbox {

const std::vector<std::string>& browser_shim_names() {
    static const std::vector<std::string> names{"xdg-open", "open", "sensible-browser",
                                                "x-www-browser", "www-browser"};
    return names;
}

std::string browser_shim_script(std::string_view helper) {
    // One URL per call, as xdg-open takes; `--` so a URL cannot be read as an option.
    return "#!/bin/sh\n# cloakroom run: the gateway opens allowed URLs in the host's browser\n"
           "exec '" +
           std::string(helper) + "' open -- \"$@\"\n";
}

Variables browser_variables(const Variables& host, std::string_view shim_dir,
                            std::string_view socket) {
    std::string path = "/usr/local/bin:/usr/bin:/bin";
    for (const auto& [name, value] : host) {
        if (name == "PATH" && !value.empty()) path = value;
    }
    return {{"CLOAKROOM_BROWSER_SOCKET", std::string(socket)},
            {"BROWSER", std::string(shim_dir) + "/xdg-open"},
            {"PATH", std::string(shim_dir) + ":" + path}};
}

}  // namespace cloakroom::sandbox
