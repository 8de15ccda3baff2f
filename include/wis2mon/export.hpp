// Symbol visibility for the shared library: everything is hidden unless marked WIS2MON_API.
#pragma once

#if defined(_WIN32)
#define WIS2MON_API
#else
#define WIS2MON_API __attribute__((visibility("default")))
#endif
