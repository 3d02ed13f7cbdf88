"""easypyfdfs (PyPI) against a FastDFS-compatible cluster.

A fork of py3fdfs 2.2.0 that differs in two lines (the pool always builds
its own Connection class; download_to_file counts the bytes it received).

Usage: python compat_easypyfdfs.py path/to/client.conf [ci|all]
"""
import sys
from importlib.metadata import version

from fdfs_client.client import Fdfs_client, get_tracker_conf

import fdfs_client_family


class Flavour:
    name = "easypyfdfs"
    version = version("easypyfdfs")
    returns_str_ids = False
    bugs = {}

    @staticmethod
    def make_client(conf):
        return Fdfs_client(get_tracker_conf(conf))


if __name__ == "__main__":
    fdfs_client_family.run(Flavour, sys.argv)
