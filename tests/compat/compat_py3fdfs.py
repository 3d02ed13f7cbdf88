"""py3fdfs (PyPI) against a FastDFS-compatible cluster.

Usage: python compat_py3fdfs.py path/to/client.conf [ci|all]
"""
import sys
from importlib.metadata import version

from fdfs_client.client import Fdfs_client, get_tracker_conf

import fdfs_client_family


class Flavour:
    name = "py3fdfs"
    version = version("py3fdfs")
    returns_str_ids = False
    bugs = {}

    @staticmethod
    def make_client(conf):
        return Fdfs_client(get_tracker_conf(conf))


if __name__ == "__main__":
    fdfs_client_family.run(Flavour, sys.argv)
