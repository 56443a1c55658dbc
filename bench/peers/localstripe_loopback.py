#!/usr/bin/env python3
"""Runs localstripe bound to 127.0.0.1 only (its own `start()` binds every interface), without its
per-request access log (the bench runs miosa-mock with --quiet-requests too), and with its pickle store
in a directory of ours instead of the fixed /tmp/localstripe.pickle. Its write path is unchanged: every
write still pickles the whole store to disk, as localstripe does.

usage: localstripe_loopback.py PORT STORE_DIR
"""
import os
import pickle
import sys

from aiohttp import web
from localstripe import resources
from localstripe.server import app

port, store_dir = int(sys.argv[1]), sys.argv[2]
path = os.path.join(store_dir, "localstripe.pickle")


def dump_to_disk(self):
    with open(path, "wb") as f:
        pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)


resources.Store.dump_to_disk = dump_to_disk
web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
