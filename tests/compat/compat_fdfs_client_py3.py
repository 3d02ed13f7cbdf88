"""fdfs-client-py3 (PyPI) against a FastDFS-compatible cluster.

A fork of py3fdfs: Fdfs_client takes the path of client.conf, and uploads
return the file ID as str (which its other calls do not accept).

Usage: python compat_fdfs_client_py3.py path/to/client.conf [ci|all]
"""
import sys
from importlib.metadata import version

from fdfs_client.client import Fdfs_client

import fdfs_client_family


class Flavour:
    name = "fdfs-client-py3"
    version = version("fdfs-client-py3")
    returns_str_ids = True
    bugs = {}

    @staticmethod
    def make_client(conf):
        return Fdfs_client(conf)


if __name__ == "__main__":
    fdfs_client_family.run(Flavour, sys.argv)
