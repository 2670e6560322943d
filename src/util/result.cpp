// Anchors the util module in the core library; Result itself is header-only.
#include "util/result.hpp"
