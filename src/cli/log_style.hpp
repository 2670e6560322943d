// One style for every human-readable line on standard error: "cloakroom: <message>", with
// "warning: " / "error: " before the message when it is one. The structured records (audit) go
// elsewhere (the audit log), so stderr stays readable when `serve` runs in a shell.
#pragma once

namespace cloakroom::cli {

// Installs the style as spdlog's global formatter: loggers created later (serve creates its
// stderr logger when it starts) inherit it.
void install_log_style();

}  // namespace cloakroom::cli
