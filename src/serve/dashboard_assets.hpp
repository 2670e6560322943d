// The dashboard's static files (src/serve/dashboard/), compiled into the binary: the build turns
// that folder into a generated .cpp (cmake/embed_files.cmake), so the binary serves them without
// reading anything from disk.
#pragma once

#include <optional>
#include <string_view>

namespace cloakroom::serve {

// The bytes of src/serve/dashboard/<name> ("index.html", "app.js", ...), or nullopt.
std::optional<std::string_view> dashboard_file(std::string_view name);

}  // namespace cloakroom::serve
