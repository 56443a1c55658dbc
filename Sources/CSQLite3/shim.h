#ifndef CSQLITE3_SHIM_H
#define CSQLITE3_SHIM_H
#include <sqlite3.h>

/// sqlite3_config is variadic, so Swift cannot call it. Turns off SQLite's memory statistics, which take a
/// global mutex around every allocation. Only takes effect before SQLite initialises (SQLITE_MISUSE after).
static inline int csqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
