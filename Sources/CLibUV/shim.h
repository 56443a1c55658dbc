#ifndef CLIBUV_SHIM_H
#define CLIBUV_SHIM_H
#include <uv.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>
#endif
