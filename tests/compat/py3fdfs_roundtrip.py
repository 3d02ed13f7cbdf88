"""A third-party FastDFS client (py3fdfs, from PyPI) against a ferrodfs
cluster: every operation is checked byte for byte.

Usage: python py3fdfs_roundtrip.py path/to/client.conf
"""

import os
import sys
import tempfile
import zlib

from fdfs_client.client import Fdfs_client, get_tracker_conf
from fdfs_client import storage_client
from fdfs_client.storage_client import Storage_client
from fdfs_client.tracker_client import Tracker_client
from fdfs_client.utils import split_remote_fileid


def fid(ret):
    """The file ID as py3fdfs hands it back (bytes), to pass to later calls."""
    return ret["Remote file_id"]


def text(file_id):
    return file_id.decode() if isinstance(file_id, bytes) else file_id


def content(ret):
    return ret["Content"]


# py3fdfs 2.2.0's metadata calls do not run on Python 3 against any server:
# the body is packed from str (struct.pack wants bytes), the flag is a str,
# get_meta_data calls .encode() on the bytes name, and the reply is split
# with str separators. Those four spots are bridged here; the requests and
# replies still go through py3fdfs's own framing and connection code.
def _pack_metadata_bytes(meta_dict, _pack=storage_client.fdfs_pack_metadata):
    return _pack(meta_dict).encode()


def _unpack_metadata_bytes(raw):
    items = [i.split(b"\x02", 1) for i in raw.split(b"\x01") if i]
    return {k.decode(): v.decode() for k, v in items}


storage_client.fdfs_pack_metadata = _pack_metadata_bytes
storage_client.fdfs_unpack_metadata = _unpack_metadata_bytes


def _storage_for(client, file_id):
    group, name = split_remote_fileid(file_id)
    tc = Tracker_client(client.tracker_pool)
    serv = tc.tracker_query_storage_update(group, name)
    return tc, serv, Storage_client(serv.ip_addr, serv.port, client.timeout), name


def set_meta(client, file_id, meta, flag):
    tc, serv, store, name = _storage_for(client, file_id)
    status = store.storage_set_metadata(tc, serv, name, meta, op_flag=flag)
    if status != 0:
        raise SystemExit(f"FAIL: set metadata answered status {status}")


def get_meta(client, file_id):
    tc, serv, store, name = _storage_for(client, file_id)
    return store.storage_get_metadata(tc, serv, name.decode())


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAIL: {what}")
    print(f"ok   {what}")


def main(conf):
    client = Fdfs_client(get_tracker_conf(conf))
    payload = os.urandom(300_000) + b"end"

    up = client.upload_by_buffer(payload, file_ext_name="bin")
    file_id = fid(up)
    check(text(file_id).startswith("group") and text(file_id).endswith(".bin"), f"upload_by_buffer -> {text(file_id)}")
    check(content(client.download_to_buffer(file_id)) == payload, "download_to_buffer is byte-identical")

    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "photo.jpg")
        with open(src, "wb") as f:
            f.write(payload[:50_000])
        by_name = fid(client.upload_by_filename(src))
        check(text(by_name).endswith(".jpg"), f"upload_by_filename keeps the extension -> {text(by_name)}")
        dst = os.path.join(d, "back.jpg")
        client.download_to_file(dst, by_name)
        with open(dst, "rb") as f:
            check(f.read() == payload[:50_000], "download_to_file is byte-identical")
        set_meta(client, by_name, {"width": "1024", "height": "768"}, b"O")
        meta = get_meta(client, by_name)
        check(meta == {"width": "1024", "height": "768"}, f"get_meta_data: {meta}")


    set_meta(client, file_id, {"author": "ci", "kind": "blob"}, b"O")
    check(get_meta(client, file_id) == {"author": "ci", "kind": "blob"}, "set_meta_data overwrite")
    set_meta(client, file_id, {"kind": "binary", "n": "1"}, b"M")
    got = get_meta(client, file_id)
    check(got == {"author": "ci", "kind": "binary", "n": "1"}, f"set_meta_data merge: {got}")
    set_meta(client, file_id, {"only": "this"}, b"O")
    check(get_meta(client, file_id) == {"only": "this"}, "overwrite drops old keys")

    app = fid(client.upload_appender_by_buffer(b"first-", file_ext_name="log"))
    check(text(app).endswith(".log"), f"upload_appender_by_buffer -> {text(app)}")
    client.append_by_buffer(b"second-", app)
    client.append_by_buffer(b"third", app)
    check(content(client.download_to_buffer(app)) == b"first-second-third", "append_by_buffer twice")
    client.modify_by_buffer(b"FIRST", app, offset=0)
    check(content(client.download_to_buffer(app)) == b"FIRST-second-third", "modify_by_buffer at offset 0")
    client.truncate_file(5, app)
    check(content(client.download_to_buffer(app)) == b"FIRST", "truncate_file to 5 bytes")

    groups = client.list_all_groups()
    check(groups["Groups count"] >= 1, f"list_all_groups sees {groups['Groups count']} groups")
    group = text(file_id).split("/")[0].encode()
    one = client.list_one_group(group)
    check(one.count >= 1 and one.active_count >= 1, f"list_one_group({group.decode()}): {one.active_count} active")

    for f in (file_id, app, by_name):
        client.delete_file(f)
    try:
        client.download_to_buffer(file_id)
        deleted = False
    except Exception as e:  # py3fdfs raises DataError with the errno text
        print(f"     download after delete: {e}")
        deleted = True
    check(deleted, "a deleted file can no longer be downloaded")
    print(f"py3fdfs round trip passed (crc32 of payload {zlib.crc32(payload):08x})")


if __name__ == "__main__":
    main(sys.argv[1])
