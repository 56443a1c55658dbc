#ifndef CHTTPPARSER_SHIM_H
#define CHTTPPARSER_SHIM_H
#include <http_parser.h>
/* Bit-fields and function-like macros are awkward from Swift; these read them. */
static inline unsigned int chp_errno(const http_parser *p) { return p->http_errno; }
static inline unsigned int chp_method(const http_parser *p) { return p->method; }
static inline unsigned int chp_upgrade(const http_parser *p) { return p->upgrade; }
static inline unsigned int chp_flags(const http_parser *p) { return p->flags; }
static inline void chp_pause(http_parser *p, int paused) { http_parser_pause(p, paused); }
#endif
