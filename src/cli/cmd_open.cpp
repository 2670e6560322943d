// `cloakroom open URL`: asks the running gateway to open URL in the host's browser (the browser
// bridge, docs/browser.md). Inside a `cloakroom run` sandbox this is what `xdg-open`, `$BROWSER`
// and `open` run; the gateway decides against [[browser_target]], so nothing in the sandbox can
// widen what is opened.
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "util/unix_socket.hpp"

namespace cloakroom::cli {
namespace {

int run_open(const GlobalOptions& global, const std::string& url) {
    std::filesystem::path socket_path;
    if (const char* from_env = std::getenv("CLOAKROOM_BROWSER_SOCKET"); from_env && *from_env) {
        socket_path = from_env;
    } else {
        auto config = load_cli_config(global);
        if (!config.ok()) return fail("open", config.error(), kExitUsage);
        socket_path = config->data_dir / "run" / "browser.sock";
    }
    auto fd = connect_unix_seqpacket(socket_path, "open", "open-URL socket");
    if (!fd.ok()) {
        return fail("open",
                    make_error("open", fd.error().message + " (is `cloakroom serve` running?)"),
                    kExitFailure);
    }
    if (::send(fd->get(), url.data(), url.size(), MSG_NOSIGNAL) < 0) {
        return fail("open", make_error("open", "the gateway closed the connection"), kExitFailure);
    }
    char answer[1024];
    const ssize_t got = ::recv(fd->get(), answer, sizeof(answer), 0);
    if (got <= 0) {
        return fail("open", make_error("open", "the gateway gave no answer"), kExitFailure);
    }
    const std::string text(answer, static_cast<std::size_t>(got));
    if (text == "ok") return kExitOk;
    std::fprintf(stderr, "cloakroom open: %s\n", text.c_str());
    return kExitFailure;
}

}  // namespace

void register_open(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto url = std::make_shared<std::string>();
    auto* command = app.add_subcommand(
        "open",
        "Open URL in the host's browser through the gateway (only URLs a [[browser_target]] "
        "allows)");
    command->add_option("url", *url, "http or https URL")->required();
    commands.push_back({command, [&global, url] { return run_open(global, *url); }});
}

}  // namespace cloakroom::cli
