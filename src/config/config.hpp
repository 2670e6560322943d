// The configuration module's public face: the model (model.hpp), the environment view
// (environment.hpp) and the loading entry points (loader.hpp). Include this one.
#pragma once

#include "config/environment.hpp"  // IWYU pragma: export
#include "config/loader.hpp"       // IWYU pragma: export
#include "config/model.hpp"        // IWYU pragma: export
