"""fastdfs-client-py3 (PyPI) against a FastDFS-compatible cluster.

A fork of py3fdfs 2.2.0 that differs in one line (the connection pool's
re-initialisation after fork).

Usage: python compat_fastdfs_client_py3.py path/to/client.conf [ci|all]
"""
import sys
from importlib.metadata import version

from fdfs_client.client import Fdfs_client, get_tracker_conf

import fdfs_client_family


class Flavour:
    name = "fastdfs-client-py3"
    version = version("fastdfs-client-py3")
    returns_str_ids = False
    bugs = {}

    @staticmethod
    def make_client(conf):
        return Fdfs_client(get_tracker_conf(conf))


if __name__ == "__main__":
    fdfs_client_family.run(Flavour, sys.argv)
