"""Checks for the PyPI clients that install the module `fdfs_client`.

py3fdfs, fdfs-client-py3, fastdfs-client-py3 and easypyfdfs are forks of
the same code (a Python 3 port of fdfs-client-py 1.2.6); they differ in a
few lines only, so one set of checks serves all four. Each client's own
script (compat_<name>.py) says how to build its client object, how its file
IDs come back, and which client bugs it has.

The client bugs listed in CLIENT_BUGS were confirmed by running these
scripts in `all` mode against FastDFS 6.16.1 itself (see README.md): there
the raw call fails the same way, so it is the client's defect, not the
server's.
"""

import os
import re
import tempfile

from fdfs_client import storage_client, tracker_client
from fdfs_client.exceptions import DataError
from fdfs_client.connection import tcp_recv_response
from fdfs_client.fdfs_protol import (
    FDFS_UPLOAD_BY_BUFFER,
    STORAGE_PROTO_CMD_UPLOAD_SLAVE_FILE,
    TRACKER_PROTO_CMD_SERVER_LIST_ALL_GROUPS,
    Tracker_header,
)
from fdfs_client.storage_client import Storage_client
from fdfs_client.tracker_client import Tracker_client
from fdfs_client.utils import split_remote_fileid

from common import (
    LAYOUT_BUG,
    ClientBug,
    Report,
    Skip,
    StrToBytesStruct,
    check_file_id,
    current_layout_classes,
    expect,
    expect_eq,
    latency_check,
    layout_of,
    patched,
    slave_file_id,
    split_id,
    timed,
    unpack_metadata_bytes,
)

SHIM = StrToBytesStruct()
STR_PACK = "packs str into struct 's' fields (Python 2 leftover: struct.error on Python 3)"


def errno_of(err):
    """The status byte the client put in its DataError text ('Error: 2, ...')."""
    m = re.search(r"Error:\s*(\d+)", str(err))
    return int(m.group(1)) if m else None


def _b(file_id):
    return file_id if isinstance(file_id, bytes) else file_id.encode()


def _storage(client, file_id, fetch=False):
    """The storage for file_id, found through the client's own tracker code."""
    group, name = split_remote_fileid(_b(file_id))
    tc = Tracker_client(client.tracker_pool)
    if fetch:
        serv = tc.tracker_query_storage_fetch(group, name)
    else:
        serv = tc.tracker_query_storage_update(group, name)
    return tc, serv, Storage_client(serv.ip_addr, serv.port, client.timeout), name


def _get_meta_bridged(client, file_id):
    with patched(storage_client, "struct", SHIM), \
            patched(storage_client, "fdfs_unpack_metadata", unpack_metadata_bytes):
        tc, serv, store, name = _storage(client, file_id)
        return store.storage_get_metadata(tc, serv, name.decode())


def _set_meta_bridged(client, file_id, meta, flag):
    with patched(storage_client, "struct", SHIM):
        tc, serv, store, name = _storage(client, file_id)
        status = store.storage_set_metadata(tc, serv, name, meta, op_flag=flag)
    expect_eq(status, 0, "set metadata status")


def _bug_table():
    """Client bugs shared by the four forks (FastDFS 6.16.1 fails them too)."""
    return {
        "upload_by_file": "upload_by_file sends nothing: tcp_send_file_ex is a stub whose loop never ends",
        "ranged": "download_to_buffer(offset, down_bytes) leaves file_offset/download_bytes unbound "
                  "unless both are 0 (UnboundLocalError)",
        "upload_meta": f"upload with meta_dict {STR_PACK}",
        "set_meta": f"set_meta_data {STR_PACK}",
        "merge": f"set_meta_data ignores op_flag (always overwrites) and {STR_PACK}",
        "get_meta": "get_meta_data calls .encode() on the bytes name and splits the bytes reply with str",
        "modify_offset": "modify_by_buffer sends offset 0 whenever offset != 0",
        "slave_file": "upload_slave_by_filename packs the str extension (struct.error) and asks the tracker "
                      "for any storage of the group instead of the master's source",
        "slave_buffer": "upload_slave_by_buffer takes no prefix and sends a normal-upload body under cmd 21",
        "list_servers": f"list_servers {STR_PACK} (the empty storage-ip filter)",
    }


def run(flavour, argv):
    """flavour: object with name, version, make_client(conf), returns_str_ids,
    bugs (dict overriding _bug_table entries; None removes one)."""
    r = Report(flavour.name, flavour.version, argv)
    bugs = _bug_table()
    bugs.update(flavour.bugs)
    client = flavour.make_client(r.conf)

    def reset():
        client.tracker_pool.destroy()
        client.tracker_pool = type(client.tracker_pool)(**client.trackers)
    r.reset_hook = reset
    tmp = tempfile.TemporaryDirectory()
    ctx = {}
    payload = os.urandom(300_000) + b"end"

    def bug(key, bridge=None, note=None):
        reason = bugs.get(key)
        return ClientBug(reason, bridge, note) if reason else None

    def need(key):
        if key not in ctx:
            raise Skip(f"needs {key} from an earlier check")
        return ctx[key]

    def fid(ret):
        return ret["Remote file_id"]

    def as_arg(file_id):
        # fdfs-client-py3 hands IDs back as str but only accepts bytes.
        return _b(file_id) if flavour.returns_str_ids else file_id

    def write(name, data):
        path = os.path.join(tmp.name, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    # -- upload / download -------------------------------------------------
    def upload_by_buffer():
        ret = client.upload_by_buffer(payload, file_ext_name="bin")
        ctx["blob"] = fid(ret)
        return check_file_id(fid(ret), "bin")
    r.check("upload_by_buffer", upload_by_buffer)

    if flavour.returns_str_ids:
        def pass_back_returned_id():
            client.download_to_buffer(need("blob"))
        r.check("pass the returned file ID back", pass_back_returned_id, bug=ClientBug(
            "upload returns the file ID as str but every other call needs bytes "
            "(split_remote_fileid searches for b'/'); the other checks encode it"))

    def download_to_buffer():
        got = client.download_to_buffer(as_arg(need("blob")))["Content"]
        expect(got == payload, f"downloaded {len(got)} bytes differ from the {len(payload)} uploaded")
        return f"{len(got)} bytes identical"
    r.check("download_to_buffer (whole file)", download_to_buffer)

    def upload_by_filename():
        path = write("photo.jpg", payload[:50_000])
        ret = client.upload_by_filename(path)
        ctx["photo"] = fid(ret)
        return check_file_id(fid(ret), "jpg")
    r.check("upload_by_filename", upload_by_filename)

    def download_to_file():
        dst = os.path.join(tmp.name, "back.jpg")
        client.download_to_file(dst, as_arg(need("photo")))
        with open(dst, "rb") as f:
            got = f.read()
        expect(got == payload[:50_000], f"file has {len(got)} bytes, not the 50000 uploaded")
        return "50000 bytes identical"
    r.check("download_to_file (whole file)", download_to_file)

    def upload_by_file():
        path = write("doc.txt", b"upload_by_file\n")
        ret = client.upload_by_file(path)
        return check_file_id(fid(ret), "txt")
    r.check("upload_by_file", upload_by_file, bug=bug("upload_by_file"), timeout=4)

    def ranged(offset, length, want):
        def raw():
            got = client.download_to_buffer(as_arg(need("blob")), offset, length)["Content"]
            expect_eq(len(got), len(want), "ranged length")
            expect(got == want, "ranged bytes differ")
            return f"{len(got)} bytes identical"

        def bridged():
            tc, serv, store, name = _storage(client, need("blob"), fetch=True)
            got = store.storage_download_to_buffer(tc, serv, None, offset, length, name)["Content"]
            expect_eq(len(got), len(want), "ranged length")
            expect(got == want, "ranged bytes differ")
            return f"{len(got)} bytes identical"
        return raw, bridged

    for off, length, label in ((1000, 5000, "offset 1000, length 5000"),
                               (299_990, 0, "offset 299990 to the end")):
        want = payload[off:off + length] if length else payload[off:]
        raw, bridged = ranged(off, length, want)
        r.check(f"download ranged ({label})", raw, bug=bug(
            "ranged", bridged, "bridged: the client's Storage_client.storage_download_to_buffer"))

    # -- metadata --------------------------------------------------------------
    def upload_with_meta_raw():
        ret = client.upload_by_buffer(b"with metadata", file_ext_name="txt", meta_dict={"a": "1", "b": "2"})
        ctx["meta_up"] = fid(ret)

    def upload_with_meta_bridged():
        with patched(storage_client, "struct", SHIM):
            ret = client.upload_by_buffer(b"with metadata", file_ext_name="txt", meta_dict={"a": "1", "b": "2"})
        ctx["meta_up"] = fid(ret)
        got = _get_meta_bridged(client, fid(ret))
        expect_eq(got, {"a": "1", "b": "2"}, "metadata stored with the upload")
        return got
    r.check("upload_by_buffer with meta_dict", upload_with_meta_raw, bug=bug(
        "upload_meta", upload_with_meta_bridged, "bridged: str packed as bytes"))

    def set_meta_raw(meta, flag):
        def f():
            if flag == "M":
                client.set_meta_data(as_arg(need("photo")), meta, op_flag="M")
            else:
                client.set_meta_data(as_arg(need("photo")), meta)
        return f

    def set_meta_overwrite_bridged():
        _set_meta_bridged(client, need("photo"), {"width": "1024", "height": "768"}, b"O")
        got = _get_meta_bridged(client, need("photo"))
        expect_eq(got, {"width": "1024", "height": "768"}, "metadata after overwrite")
        _set_meta_bridged(client, need("photo"), {"author": "ci", "kind": "blob"}, b"O")
        got = _get_meta_bridged(client, need("photo"))
        expect_eq(got, {"author": "ci", "kind": "blob"}, "second overwrite drops the old keys")
        return got

    def set_meta_merge_bridged():
        _set_meta_bridged(client, need("photo"), {"author": "ci", "kind": "blob"}, b"O")
        _set_meta_bridged(client, need("photo"), {"kind": "binary", "n": "1"}, b"M")
        got = _get_meta_bridged(client, need("photo"))
        expect_eq(got, {"author": "ci", "kind": "binary", "n": "1"}, "metadata after merge")
        return got

    r.check("set_meta_data (overwrite)", set_meta_raw({"width": "1024"}, "O"), bug=bug(
        "set_meta", set_meta_overwrite_bridged, "bridged: str packed as bytes"))
    r.check("set_meta_data (merge)", set_meta_raw({"kind": "binary"}, "M"), bug=bug(
        "merge", set_meta_merge_bridged, "bridged: the client's storage_set_metadata with flag b'M'"))

    def get_meta_raw():
        got = client.get_meta_data(as_arg(need("photo")))
        expect(isinstance(got, dict) and got, f"metadata {got!r}")
        return got
    r.check("get_meta_data", get_meta_raw, bug=bug(
        "get_meta", lambda: _get_meta_bridged(client, need("photo")),
        "bridged: str name, bytes separators"))

    # -- appender files ----------------------------------------------------------
    def read(file_id):
        return client.download_to_buffer(as_arg(file_id))["Content"]

    def upload_appender():
        ret = client.upload_appender_by_buffer(b"first-", file_ext_name="log")
        ctx["app"] = fid(ret)
        return check_file_id(fid(ret), "log")
    r.check("upload_appender_by_buffer", upload_appender)

    def append_buffer():
        client.append_by_buffer(b"second-", as_arg(need("app")))
        client.append_by_buffer(b"third", as_arg(need("app")))
        expect_eq(read(need("app")), b"first-second-third", "content after two appends")
    r.check("append_by_buffer (twice)", append_buffer)

    def append_filename():
        client.append_by_filename(write("more.log", b"+file"), as_arg(need("app")))
        expect_eq(read(need("app")), b"first-second-third+file", "content after append_by_filename")
    r.check("append_by_filename", append_filename)

    # Expectations are relative to the content read back just before, so a
    # check does not depend on an earlier one having passed.
    def modify_at_zero():
        before = read(need("app"))
        client.modify_by_buffer(b"FIRST", as_arg(need("app")), offset=0)
        expect_eq(read(need("app")), b"FIRST" + before[5:], "content after modify at 0")
    r.check("modify_by_buffer (offset 0)", modify_at_zero)

    def modify_at_offset(bridged):
        def f():
            before = read(need("app"))
            expect(len(before) >= 12, f"appender holds {before!r}")
            if bridged:
                tc, serv, store, name = _storage(client, need("app"))
                store.storage_modify_by_buffer(tc, serv, b"SECOND", 6, 6, name)
            else:
                client.modify_by_buffer(b"SECOND", as_arg(need("app")), offset=6)
            expect_eq(read(need("app")), before[:6] + b"SECOND" + before[12:], "content after modify at 6")
        return f
    r.check("modify_by_buffer (offset 6)", modify_at_offset(False), bug=bug(
        "modify_offset", modify_at_offset(True), "bridged: the client's storage_modify_by_buffer"))

    def truncate():
        before = read(need("app"))
        client.truncate_file(5, as_arg(need("app")))
        expect_eq(read(need("app")), before[:5], "content after truncate to 5")
    r.check("truncate_file", truncate)

    def upload_appender_file():
        ret = client.upload_appender_by_filename(write("start.log", b"from a file"))
        ctx["app2"] = fid(ret)
        expect_eq(read(fid(ret)), b"from a file", "appender uploaded from a file")
        return check_file_id(fid(ret), "log")
    r.check("upload_appender_by_filename", upload_appender_file)

    # -- slave files -------------------------------------------------------------
    thumb = b"thumbnail bytes " * 64

    def slave_by_filename_raw():
        ret = client.upload_slave_by_filename(write("thumb.jpg", thumb), as_arg(need("photo")), b"_150x150")
        ctx["slave"] = fid(ret)

    def slave_by_filename_bridged():
        with patched(storage_client, "struct", SHIM):
            tc, serv, store, master = _storage(client, need("photo"))
            ret = store.storage_upload_slave_by_filename(tc, serv, write("thumb.jpg", thumb), b"_150x150", master)
        ctx["slave"] = fid(ret)
        return split_id(fid(ret))[0] + "/" + split_id(fid(ret))[1]
    r.check("upload_slave_by_filename", slave_by_filename_raw, bug=bug(
        "slave_file", slave_by_filename_bridged,
        "bridged: str packed as bytes, master's storage from QUERY_UPDATE"))

    def slave_by_buffer_raw():
        ret = client.upload_slave_by_buffer(thumb, as_arg(need("photo")), file_ext_name="png")
        ctx["slave_buf"] = fid(ret)

    def slave_by_buffer_bridged():
        with patched(storage_client, "struct", SHIM):
            tc, serv, store, master = _storage(client, need("photo"))
            ret = store._storage_do_upload_file(tc, serv, thumb, len(thumb), FDFS_UPLOAD_BY_BUFFER, None,
                                                STORAGE_PROTO_CMD_UPLOAD_SLAVE_FILE, master, b"_small", "png")
        ctx["slave_buf"] = fid(ret)
        return split_id(fid(ret))[0] + "/" + split_id(fid(ret))[1]
    r.check("upload_slave_by_buffer", slave_by_buffer_raw, bug=bug(
        "slave_buffer", slave_by_buffer_bridged,
        "bridged: the client's _storage_do_upload_file with master and prefix"))

    # No extension given: FastDFS's storage gives the slave none (it does not
    # reuse the master's).
    def slave_noext_raw():
        ret = client.upload_slave_by_buffer(thumb, as_arg(need("photo")))
        ctx["slave_noext"] = fid(ret)

    def slave_noext_bridged():
        with patched(storage_client, "struct", SHIM):
            tc, serv, store, master = _storage(client, need("photo"))
            ret = store._storage_do_upload_file(tc, serv, thumb, len(thumb), FDFS_UPLOAD_BY_BUFFER, None,
                                                STORAGE_PROTO_CMD_UPLOAD_SLAVE_FILE, master, b"_raw", None)
        ctx["slave_noext"] = fid(ret)
        return split_id(fid(ret))[0] + "/" + split_id(fid(ret))[1]
    r.check("upload_slave_by_buffer (no extension)", slave_noext_raw, bug=bug(
        "slave_buffer", slave_noext_bridged,
        "bridged: the client's _storage_do_upload_file with master and prefix"))

    # FastDFS names a slave after its master (fdfs_gen_slave_filename): the
    # master's remote name up to the dot of its extension, the prefix, then
    # '.' + the slave's extension. Applications compute it instead of storing
    # it, so the file must be there under exactly that name.
    for key, prefix, ext in (("slave", "_150x150", "jpg"), ("slave_buf", "_small", "png"),
                             ("slave_noext", "_raw", "")):
        def by_returned(key=key):
            got = read(need(key))
            expect(got == thumb, f"slave content ({len(got)} bytes) differs")
            return "identical"

        def by_computed(key=key, prefix=prefix, ext=ext):
            want = slave_file_id(need("photo"), prefix, ext)
            got = read(want.encode())
            expect(got == thumb, f"slave content ({len(got)} bytes) differs")
            return want

        def same_name(key=key, prefix=prefix, ext=ext):
            want = slave_file_id(need("photo"), prefix, ext)
            got = "/".join(split_id(need(key)))
            expect(got == want, f"returned {got}, FastDFS names it {want}")
            return got
        r.check(f"{key}: download by the returned ID", by_returned)
        r.check(f"{key}: download by the ID computed from master", by_computed)
        r.check(f"{key}: returned ID is the computed one", same_name)

    # -- listing -----------------------------------------------------------------
    # The clients parse the legacy records; FastDFS 6.13+ (and a ferrodfs
    # tracker with stat_layout = "current") sends the newer ones. Which one
    # this tracker sends decides whether the client's own parsing can work.
    def probe_layout():
        conn = client.tracker_pool.get_connection()
        try:
            th = Tracker_header()
            th.cmd = TRACKER_PROTO_CMD_SERVER_LIST_ALL_GROUPS
            th.send_header(conn)
            th.recv_header(conn)
            expect_eq(th.status, 0, "list-all-groups status")
            body, n = tcp_recv_response(conn, th.pkg_len)
        finally:
            client.tracker_pool.release(conn)
        ctx["layout"] = layout_of(n)
        return f"{ctx['layout']} ({n} bytes for 2 groups)"
    r.check("list-groups record layout the tracker sends", probe_layout)

    group_cur, storage_cur = current_layout_classes(tracker_client.Group_info, tracker_client.Storage_info)

    def in_current_layout(fn, shim=False):
        def f():
            with patched(tracker_client, "Group_info", group_cur), \
                    patched(tracker_client, "Storage_info", storage_cur), \
                    patched(tracker_client, "struct", SHIM if shim else tracker_client.struct):
                return fn()
        return f

    def layout_bug(fn, shim=False):
        if ctx.get("layout") != "current":
            return None
        return ClientBug(LAYOUT_BUG, in_current_layout(fn, shim), "bridged: records read in the current layout")

    def list_all():
        ret = client.list_all_groups()
        groups = {g.group_name.decode(): g for g in ret["Groups"]}
        expect_eq(sorted(groups), ["group1", "group2"], "groups")
        for name, g in groups.items():
            expect_eq((g.count, g.active_count, g.storage_port), (2, 2, 23000), f"{name} count/active/port")
        return ", ".join(f"{n}: {g.active_count}/{g.count} active" for n, g in sorted(groups.items()))
    r.check("list_all_groups", list_all, bug=layout_bug(list_all))

    def list_one():
        g = client.list_one_group(b"group1")
        expect_eq(g.group_name, b"group1", "group name")
        expect_eq((g.count, g.active_count, g.storage_port), (2, 2, 23000), "count/active/port")
        return f"group1: {g.active_count}/{g.count} active, free {g.freeMB}"
    r.check("list_one_group", list_one, bug=layout_bug(list_one))

    def list_servers_check():
        ret = client.list_servers(b"group2")
        servers = ret["Servers"]
        expect_eq(len(servers), 2, "storage count")
        for s in servers:
            expect_eq((s.status, s.storage_port), (7, 23000), f"status/port of {s.ip_addr!r}")
        return ", ".join(f"{s.ip_addr.decode()} v{s.version.decode()}" for s in servers)

    def list_servers_bridged():
        with patched(tracker_client, "struct", SHIM):
            return list_servers_check()
    if ctx.get("layout") == "current":
        servers_bug = bug("list_servers", in_current_layout(list_servers_check, shim=True),
                          "bridged: str packed as bytes, records read in the current layout")
        servers_bug.reason += "; it also " + LAYOUT_BUG
    else:
        servers_bug = bug("list_servers", list_servers_bridged, "bridged: str packed as bytes")
    r.check("list_servers", list_servers_check, bug=servers_bug)

    r.skip("query_file_info", "the client has no query-file-info call")

    # -- delete --------------------------------------------------------------------
    def delete():
        client.delete_file(as_arg(need("blob")))
        try:
            client.download_to_buffer(as_arg(need("blob")))
        except DataError as e:
            expect_eq(errno_of(e), 2, f"error after delete ({e})")
            return f"download after delete: {e}"
        raise AssertionError("a deleted file can still be downloaded")
    r.check("delete_file, then download fails (ENOENT)", delete)

    def delete_rest():
        for key in ("photo", "app", "app2", "slave", "slave_buf", "slave_noext", "meta_up"):
            if key in ctx:
                client.delete_file(as_arg(ctx[key]))
    r.check("delete_file (master, slaves, appenders)", delete_rest)

    # -- errors keep the connection ---------------------------------------------
    small = os.urandom(1024)

    def small_upload():
        ctx["small"] = fid(client.upload_by_buffer(small, file_ext_name="dat"))
    r.check("upload_by_buffer (1 KiB, for the checks below)", small_upload)

    def error_then_valid(bad_id, want_errno):
        def f():
            good = as_arg(need("small"))
            expect_eq(client.download_to_buffer(good)["Content"], small, "warm-up download")
            pool = client.tracker_pool
            before = {id(c) for c in pool._conns_available}
            try:
                client.download_to_buffer(bad_id)
            except DataError as e:
                err = str(e)
            else:
                raise AssertionError(f"{bad_id!r} was accepted")
            expect_eq(errno_of(err), want_errno, f"errno for {bad_id!r} ({err})")
            after = {id(c) for c in pool._conns_available}
            try:
                got = client.download_to_buffer(good)["Content"]
            except Exception as e:  # noqa: BLE001
                raise AssertionError(f"the next call on the same client failed: {type(e).__name__}: {e} "
                                     f"(the server closed the pooled tracker connection after the error)")
            expect_eq(got, small, "download after the error")
            expect(before == after, "the pooled tracker connection was replaced after the error reply")
            return f"{err}; pooled tracker connection kept"
        return f
    r.check("bad file ID (too short), then valid call", error_then_valid(b"group1/bogus", 22))
    r.check("unknown file ID, then valid call",
            error_then_valid(b"group1/M00/00/00/AAAAAAAAAAAAAAAAAAAAAAAAAAA000.bin", 2))

    # -- speed -------------------------------------------------------------------
    def latency():
        good = as_arg(need("small"))
        return latency_check(timed(lambda: client.download_to_buffer(good)))
    r.check("latency: 50 x 1 KiB download_to_buffer", latency, timeout=60)

    if "small" in ctx:
        client.delete_file(as_arg(ctx["small"]))
    tmp.cleanup()
    r.finish()
