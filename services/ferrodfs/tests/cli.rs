//! The command line as users and their FastDFS scripts call it.

mod common;

use std::process::{Command, Output};

use common::*;
use ferrodfs_client::FileId;

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_bad_tracker_config_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("store_lookup = \"random\"\n", "store_lookup"),
        ("port = 70000\n", "port"),
        ("bogus_key = 1\n", "bogus_key"),
        ("store_lookup = \"specified_group\"\n", "store_group"),
    ];
    for (text, key) in cases {
        let p = dir.path().join("tracker.toml");
        std::fs::write(&p, format!("bind = \"127.0.0.1\"\n{text}")).unwrap();
        let o = run(&["tracker", "--config", p.to_str().unwrap()]);
        assert!(!o.status.success(), "{text} was accepted");
        assert!(
            stderr(&o).contains(key),
            "{text}: error does not name {key}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn a_bad_storage_config_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().display();
    let cases = [
        (format!("base_path = \"{base}\"\nstore_paths = [\"{base}\"]\n"), "group_name"),
        (format!("group_name = \"g/1\"\nbase_path = \"{base}\"\nstore_paths = [\"{base}\"]\n"), "group_name"),
        (format!("group_name = \"group1\"\nbase_path = \"{base}\"\nstore_paths = []\n"), "store_paths"),
        (format!("group_name = \"group1\"\nbase_path = \"{base}\"\nstore_paths = [\"{base}\"]\nreserved_storage_space = \"lots\"\n"), "reserved_storage_space"),
    ];
    for (text, key) in cases {
        let p = dir.path().join("storage.toml");
        std::fs::write(&p, format!("bind = \"127.0.0.1\"\n{text}")).unwrap();
        let o = run(&["storage", "--config", p.to_str().unwrap()]);
        assert!(!o.status.success(), "{text} was accepted");
        assert!(
            stderr(&o).contains(key),
            "{text}: error does not name {key}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn info_decodes_a_fastdfs_id_offline() {
    let o = run(&[
        "info",
        "group1/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("source ip address: 192.168.1.135"), "{out}");
    assert!(out.contains("file create timestamp: 2015-09-0"), "{out}");
    let bad = run(&["info", "group1/M00/00/00/short.txt"]);
    assert!(!bad.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_round_trip_a_file() {
    let c = Cluster::start(1, &["group1"]);
    c.wait_active(1).await;
    let conf = c.client_conf();
    let conf = conf.to_str().unwrap();
    let src = c.dir.path().join("report.pdf");
    let data = random_bytes(200_000, 3);
    std::fs::write(&src, &data).unwrap();

    let up = run(&["upload", "-c", conf, src.to_str().unwrap()]);
    assert!(up.status.success(), "{}", stderr(&up));
    let id = stdout(&up).trim().to_string();
    assert!(
        id.starts_with("group1/M00/") && id.ends_with(".pdf"),
        "{id}"
    );

    let dest = c.dir.path().join("back.pdf");
    let down = run(&["download", "-c", conf, &id, dest.to_str().unwrap()]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert_eq!(std::fs::read(&dest).unwrap(), data);

    let set = run(&["meta", "-c", conf, &id, "author=me", "pages=3"]);
    assert!(set.status.success(), "{}", stderr(&set));
    let get = run(&["meta", "-c", conf, &id]);
    assert_eq!(stdout(&get), "author=me\npages=3\n");

    let mon = run(&["monitor", "-c", conf]);
    assert!(mon.status.success(), "{}", stderr(&mon));
    assert!(
        stdout(&mon).contains("group name = group1") && stdout(&mon).contains("ACTIVE"),
        "{}",
        stdout(&mon)
    );

    let del = run(&["delete", "-c", conf, &id]);
    assert!(del.status.success(), "{}", stderr(&del));
    let gone = run(&[
        "download",
        "-c",
        conf,
        &id,
        dest.with_extension("2").to_str().unwrap(),
    ]);
    assert!(!gone.status.success());
    assert!(stderr(&gone).contains("ENOENT"), "{}", stderr(&gone));
    assert!(
        !dest.with_extension("2").exists(),
        "a failed download left a file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastdfs_tool_names_keep_their_argument_shapes() {
    let c = Cluster::start(1, &["group1"]);
    c.wait_active(1).await;
    let conf = c.client_conf();
    let conf = conf.to_str().unwrap();
    let bin_dir = c.dir.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let tool = |name: &str| {
        let p = bin_dir.join(name);
        if !p.exists() {
            std::os::unix::fs::symlink(BIN, &p).unwrap();
        }
        p
    };
    let src = c.dir.path().join("a.txt");
    std::fs::write(&src, b"line one\n").unwrap();
    let more = c.dir.path().join("b.txt");
    std::fs::write(&more, b"line two\n").unwrap();

    let o = Command::new(tool("fdfs_upload_appender"))
        .args([conf, src.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    let o = Command::new(tool("fdfs_append_file"))
        .args([conf, &id, more.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let dest = c.dir.path().join("out.txt");
    let o = Command::new(tool("fdfs_download_file"))
        .args([conf, &id, dest.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&dest).unwrap(), b"line one\nline two\n");

    let o = Command::new(tool("fdfs_file_info"))
        .args([conf, &id])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("file type: appender") && stdout(&o).contains("file size: 18"),
        "{}",
        stdout(&o)
    );

    let o = Command::new(tool("fdfs_upload_file"))
        .args([conf, src.to_str().unwrap()])
        .output()
        .unwrap();
    let plain = stdout(&o).trim().to_string();
    assert!(plain.ends_with(".txt"), "{plain}");
    let o = Command::new(tool("fdfs_delete_file"))
        .args([conf, &plain])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new(tool("fdfs_delete_file"))
        .args([conf, &plain])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "deleting twice must exit with ENOENT (2)"
    );

    let o = Command::new(tool("fdfs_monitor"))
        .args([conf, "list"])
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("readable server count = 1\nwritable server count = 1\n"),
        "{}",
        stdout(&o)
    );
    let upload_tool = tool("fdfs_upload_file");
    let o = Command::new(&upload_tool).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        format!(
            "Usage: {} <config_file> <local_filename> [storage_ip:port] [store_path_index]\n",
            upload_tool.display()
        )
    );
}

/// Runs a FastDFS tool name (a symlink to the binary) in `dir`.
fn fdfs_tool(dir: &std::path::Path, name: &str, args: &[&str]) -> Output {
    let p = dir.join(name);
    if !p.exists() {
        std::os::unix::fs::symlink(BIN, &p).unwrap();
    }
    Command::new(p).args(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastdfs_tools_print_what_fastdfs_6_16_prints() {
    let c = Cluster::start(1, &["group1"]);
    c.wait_active(1).await;
    let conf = c.client_conf();
    let conf = conf.to_str().unwrap();
    let bin = c.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let src = c.dir.path().join("a.txt");
    std::fs::write(&src, b"hello").unwrap();
    let data = src.to_str().unwrap();

    // A normal file is described from its name alone.
    let o = fdfs_tool(&bin, "fdfs_upload_file", &[conf, data]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    let info = FileId::parse(&id).unwrap().name.info().unwrap();
    let o = fdfs_tool(&bin, "fdfs_file_info", &[conf, &id]);
    let crc = crc32fast::hash(b"hello");
    let storage_ip = c.storages[0].addr.split(':').next().unwrap();
    let created = chrono::DateTime::from_timestamp(info.create_time as i64, 0)
        .unwrap()
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S");
    assert_eq!(
        stdout(&o),
        format!(
            "GET FROM SERVER: false\n\nfile type: normal\nsource storage id: 0\n\
             source ip address: {storage_ip}\nfile create timestamp: {created}\n\
             file size: 5\nfile crc32: {} (0x{crc:08x})\n\n",
            crc as i32
        )
    );

    // Failures: one line, on the tool's stream, with the tool's exit status.
    let o = fdfs_tool(&bin, "fdfs_delete_file", &[conf, &id]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), ""));
    let o = fdfs_tool(&bin, "fdfs_delete_file", &[conf, &id]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stdout(&o),
        "delete file fail, error no: 2, error info: No such file or directory\n"
    );
    assert_eq!(stderr(&o), "");
    let out = c.dir.path().join("gone.txt");
    let o = fdfs_tool(
        &bin,
        "fdfs_download_file",
        &[conf, &id, out.to_str().unwrap()],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "fdfs_download_file always exits 0"
    );
    assert_eq!(
        stdout(&o),
        "download file fail, error no: 2, error info: No such file or directory\n"
    );

    // An appender file is asked about; regenerating prints the new ID.
    let o = fdfs_tool(&bin, "fdfs_upload_appender", &[conf, data]);
    let app = stdout(&o).trim().to_string();
    let o = fdfs_tool(&bin, "fdfs_regenerate_filename", &[conf, &app]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let new = stdout(&o).trim().to_string();
    assert!(new.starts_with("group1/M00/") && new != app, "{new}");
    let o = fdfs_tool(&bin, "fdfs_file_info", &[conf, &app]);
    assert_eq!(o.status.code(), Some(0), "fdfs_file_info always exits 0");
    assert_eq!(
        (stdout(&o).as_str(), stderr(&o).as_str()),
        (
            "",
            "query file info fail, error no: 2, error info: No such file or directory\n"
        )
    );
    let o = fdfs_tool(&bin, "fdfs_regenerate_filename", &[conf, &app]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!("regenerate file {app} fail, error no: 2, error info: No such file or directory\n")
    );
    let o = run(&["regenerate", "-c", conf, &app]);
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o).lines().count(),
        1,
        "one error message: {}",
        stderr(&o)
    );

    // fdfs_monitor's 6.16 layout.
    let o = fdfs_tool(&bin, "fdfs_monitor", &[conf]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..8],
        [
            "tracker server count=1, current server index=0",
            "",
            &format!("tracker server is {}", c.trackers[0].addr),
            "",
            "group count: 1",
            "",
            "Group 1:",
            "group name = group1",
        ]
    );
    let host = format!("\t\thost = {}  ACTIVE", c.storages[0].addr);
    for want in [
        "storage server count = 1",
        "readable server count = 1",
        "\tStorage 1:",
        &host,
        "\t\tread write mode = both (normal)",
    ] {
        assert!(lines.contains(&want), "missing {want:?} in\n{text}");
    }
    let o = fdfs_tool(&bin, "fdfs_monitor", &[conf, "set_trunk_server", "group1"]);
    assert!(
        stdout(&o).ends_with(
            "set trunk server group1:: fail, error no: 95, error info: Operation not supported\n"
        ),
        "{}",
        stdout(&o)
    );
    let o = fdfs_tool(&bin, "fdfs_monitor", &[conf, "-h", "10.9.9.9:22122"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "tracker server: 10.9.9.9:22122 not exists!\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_reports_figures_as_json() {
    let c = Cluster::start(1, &["group1"]);
    c.wait_active(1).await;
    let conf = c.client_conf();
    for op in ["upload", "download", "mixed"] {
        let o = run(&[
            "bench",
            "-c",
            conf.to_str().unwrap(),
            "--op",
            op,
            "--size",
            "4K",
            "--concurrency",
            "4",
            "--count",
            "200",
            "--files",
            "20",
            "--json",
        ]);
        assert!(o.status.success(), "{op}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(v["errors"], 0, "{op}: {v}");
        assert_eq!(v["ops"], 200, "{op}: {v}");
        assert!(
            v["ops_per_sec"].as_f64().unwrap() > 0.0
                && v["p99_ms"].as_f64().unwrap() >= v["p50_ms"].as_f64().unwrap(),
            "{v}"
        );
    }
    // Cleanup removed every uploaded file.
    assert!(
        data_files(&c.store_path(0)).is_empty(),
        "{:?}",
        data_files(&c.store_path(0)).len()
    );
}

#[test]
fn up_starts_a_cluster_uploads_a_demo_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let tport = free_port("127.0.0.2");
    let sport = free_port("127.0.0.11");
    let hport = free_port("127.0.0.11");
    let eport = free_port("127.0.0.2");
    let fport = free_port("127.0.0.1");
    let o = Command::new(BIN)
        .args([
            "up",
            "--dir",
            dir.path().to_str().unwrap(),
            "--exit-after-demo",
        ])
        .args([
            "--tracker-port",
            &tport.to_string(),
            "--storage-port",
            &sport.to_string(),
            "--http-port",
            &hport.to_string(),
            "--edge-port",
            &eport.to_string(),
            "--front-port",
            &fport.to_string(),
        ])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("demo upload:   group"), "{out}");
    assert!(out.contains("demo download verified"), "{out}");
    // The demo file was read back through front -> edge -> storage.
    assert!(
        out.contains(&format!(
            "open it:       http://127.0.0.1:{fport}/dfs/group"
        )),
        "{out}"
    );
    let conf = std::fs::read_to_string(dir.path().join("client.conf")).unwrap();
    assert_eq!(
        conf.lines()
            .filter(|l| l.starts_with("tracker_server"))
            .count(),
        2,
        "{conf}"
    );
}
