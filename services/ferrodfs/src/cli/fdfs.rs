//! FastDFS tool names. A symlink `fdfs_upload_file -> ferrodfs` runs the
//! matching command with FastDFS 6.16's argument shape (client config
//! first) and prints what that tool prints: the same usage text, result
//! lines, one `... fail, error no: N, error info: TEXT` line on failure
//! (on the stream the tool uses), and the same exit status (client/*.c).

use std::path::Path;

use ferrodfs_client::{Addr, Client, ClientError, UploadKind};
use ferrodfs_proto::io::ProtoError;

use super::{client_from_conf, files, human, info, monitor};

/// Tool names, as `tool_name` recognises them.
pub const TOOLS: &[&str] = &[
    "fdfs_upload_file",
    "fdfs_upload_appender",
    "fdfs_append_file",
    "fdfs_download_file",
    "fdfs_delete_file",
    "fdfs_file_info",
    "fdfs_regenerate_filename",
    "fdfs_monitor",
];

/// FastDFS's default client config and ports (fdfs_monitor without
/// arguments, `storage_ip` without a port).
const DEFAULT_CONF: &str = "/etc/fdfs/client.conf";
const STORAGE_PORT: u16 = 23000;
const TRACKER_PORT: u16 = 22122;
const ECONNREFUSED: i32 = 111;

/// The FastDFS tool this process was started as, if any.
pub fn tool_name(argv: &[String]) -> Option<&'static str> {
    let base = Path::new(argv.first()?).file_name()?.to_str()?;
    TOOLS.iter().copied().find(|n| *n == base)
}

/// The usage text of `tool` invoked as `prog`, and whether the tool
/// prints it on stdout (most) or stderr.
fn usage(tool: &str, prog: &str) -> (String, bool) {
    match tool {
        "fdfs_upload_file" => (
            format!("Usage: {prog} <config_file> <local_filename> [storage_ip:port] [store_path_index]\n"),
            true,
        ),
        "fdfs_upload_appender" => (
            format!("Usage: {prog} <config_file> <local_filename>\n"),
            true,
        ),
        "fdfs_append_file" => (
            format!("Usage: {prog} <config_file> <appender_file_id> <local_filename>\n"),
            true,
        ),
        "fdfs_download_file" => (
            format!(
                "Usage: {prog} <config_file> <file_id> [local_filename] \
                 [<download_offset> <download_bytes>]\n"
            ),
            true,
        ),
        "fdfs_delete_file" => (format!("Usage: {prog} <config_file> <file_id>\n"), true),
        "fdfs_file_info" => (
            format!(
                "Usage: {prog} [options] <config_file> <file_id>\n  options: \n    \
                 -s: keep silence, when this file not exist, do not log error on storage server\n    \
                 -n: do NOT calculate CRC32 for appender file or slave file\n\n"
            ),
            false,
        ),
        "fdfs_regenerate_filename" => (
            format!(
                "regenerate filename for the appender file.\n\
                 NOTE: the regenerated file will be a normal file!\n\
                 Usage: {prog} <config_file> <appender_file_id>\n"
            ),
            false,
        ),
        _ => (
            format!(
                "\nUsage:\n  {prog} <client_cfg_file> [-h <tracker_server>]\n  \
                 [list|delete|set_trunk_server <group_name> [storage_id]]\n\n\
                 Note:\n  the tracker server format: host[:port], the tracker default port is \
                 {TRACKER_PORT}\n  {prog} without parameter equals: {prog} {DEFAULT_CONF}\n\n"
            ),
            true,
        ),
    }
}

fn emit(text: &str, stdout: bool) {
    if stdout {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
}

/// How a failure shows: the errno FastDFS's client would have returned.
fn errno_of(e: &anyhow::Error) -> i32 {
    if let Some(c) = e.downcast_ref::<ClientError>() {
        return match c {
            ClientError::Proto(ProtoError::Status(s)) => i32::from(*s),
            ClientError::Proto(ProtoError::Io(io)) | ClientError::Io(io) => {
                io.raw_os_error().unwrap_or(5)
            }
            ClientError::Connect { err, .. } => err.raw_os_error().unwrap_or(ECONNREFUSED),
            ClientError::NoTracker { .. } => ECONNREFUSED,
            ClientError::Timeout(_) => 110,
            _ => 22,
        };
    }
    e.downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::raw_os_error)
        .unwrap_or(22)
}

/// `<what> fail, error no: N, error info: TEXT`.
fn fail_line(what: &str, n: i32) -> String {
    format!(
        "{what} fail, error no: {n}, error info: {}\n",
        human::strerror(n)
    )
}

/// Runs `tool` with `argv` (argv[0] included) and returns its exit status.
pub fn main(tool: &'static str, argv: &[String]) -> i32 {
    let prog = argv.first().map(String::as_str).unwrap_or(tool);
    let args = &argv[argv.len().min(1)..];
    let min = match tool {
        "fdfs_append_file" => 3,
        "fdfs_monitor" => 0,
        _ => 2,
    };
    if args.len() < min {
        let (text, stdout) = usage(tool, prog);
        emit(&text, stdout);
        return 1;
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{prog}: {e}");
            return 1;
        }
    };
    rt.block_on(run(tool, prog, args))
}

/// Loads the client config as fdfs_client_init does: on failure one
/// message and the errno (ENOENT for a missing file).
fn init(conf: &str) -> Result<Client, i32> {
    client_from_conf(conf).map_err(|e| {
        eprintln!("{e:#}");
        if Path::new(conf).exists() {
            22
        } else {
            2
        }
    })
}

async fn run(tool: &str, prog: &str, args: &[String]) -> i32 {
    match tool {
        "fdfs_monitor" => return fdfs_monitor(prog, args).await,
        "fdfs_file_info" => return file_info(prog, args).await,
        _ => {}
    }
    let client = match init(&args[0]) {
        Ok(c) => c,
        Err(n) => return n,
    };
    // (message prefix, on stdout, exit with the errno) of each tool.
    let (what, on_stdout, exit_errno) = match tool {
        "fdfs_append_file" => ("append file".to_string(), true, true),
        "fdfs_download_file" => ("download file".to_string(), true, false),
        "fdfs_delete_file" => ("delete file".to_string(), true, true),
        "fdfs_regenerate_filename" => (format!("regenerate file {}", args[1]), false, true),
        _ => ("upload file".to_string(), false, true),
    };
    let result: anyhow::Result<()> = async {
        match tool {
            "fdfs_upload_file" | "fdfs_upload_appender" => {
                return upload(tool, &client, args).await;
            }
            "fdfs_append_file" => {
                let data = tokio::fs::read(&args[2]).await?;
                client.append(&args[1], &data).await?;
            }
            "fdfs_download_file" => {
                let dest = args
                    .get(2)
                    .map(std::path::PathBuf::from)
                    .unwrap_or_else(|| files::default_dest(&args[1]));
                // Offset and length count only together, read as strtoll.
                let (offset, length) = match (args.get(3), args.get(4)) {
                    (Some(o), Some(l)) => (strtoll(o), strtoll(l)),
                    _ => (0, 0),
                };
                files::download_to_path(&client, &args[1], &dest, offset, length).await?;
            }
            "fdfs_delete_file" => client.delete(&args[1]).await?,
            "fdfs_regenerate_filename" => {
                println!("{}", client.regenerate_appender_filename(&args[1]).await?);
            }
            _ => unreachable!("tool_name only returns names from TOOLS"),
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => 0,
        Err(e) if e.downcast_ref::<Reported>().is_some() => {
            e.downcast_ref::<Reported>().map_or(1, |r| r.0)
        }
        Err(e) => {
            let n = errno_of(&e);
            emit(&fail_line(&what, n), on_stdout);
            if exit_errno {
                n
            } else {
                0
            }
        }
    }
}

/// `strtoll(s, NULL, 10)`: the leading digits, 0 when there are none.
fn strtoll(s: &str) -> u64 {
    let digits: String = s
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

/// fdfs_upload_file / fdfs_upload_appender: ask the tracker (or use the
/// `storage_ip:port [store_path_index]` given), upload, print the ID.
async fn upload(tool: &str, client: &Client, args: &[String]) -> anyhow::Result<()> {
    let kind = if tool == "fdfs_upload_appender" {
        UploadKind::Appender
    } else {
        UploadKind::Normal
    };
    let given = args.get(2).filter(|_| tool == "fdfs_upload_file");
    let (storage, path_index) = match given {
        Some(host) => {
            let (ip, port) = match host.rsplit_once(':') {
                Some((ip, p)) => (ip.to_string(), p.parse().unwrap_or(STORAGE_PORT)),
                None => (host.clone(), STORAGE_PORT),
            };
            // atoi; a negative index lets the storage choose.
            let index = args.get(3).and_then(|i| i.parse::<i64>().ok());
            let index = index.filter(|i| (0..=255).contains(i)).map(|i| i as u8);
            (Addr { ip, port }, index)
        }
        None => match client.query_store(None).await {
            Ok(t) => {
                let s = t.storages.first().cloned().ok_or_else(|| {
                    ClientError::Proto(ProtoError::BadReply("query store: no storage".into()))
                })?;
                (s, Some(t.store_path_index))
            }
            Err(e) => {
                let n = errno_of(&e.into());
                eprint!("{}", fail_line("tracker_query_storage", n));
                return Err(Reported(n).into());
            }
        },
    };
    let id = client
        .upload_file_to(&storage, path_index, Path::new(&args[1]), kind)
        .await?;
    println!("{id}");
    Ok(())
}

/// A failure already printed; only its errno is left to return.
#[derive(Debug)]
struct Reported(i32);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error no: {}", self.0)
    }
}

impl std::error::Error for Reported {}

/// fdfs_file_info [-s] [-n] <config_file> <file_id>: always exits 0 once
/// the config loaded; failures print `query file info fail, ...`.
async fn file_info(prog: &str, args: &[String]) -> i32 {
    let mut rest: Vec<&String> = Vec::new();
    for a in args {
        match a.as_str() {
            // -s only quiets the storage's log; -n is accepted, the CRC is
            // still computed.
            "-s" | "-n" | "-sn" | "-ns" => {}
            s if s.starts_with('-') && rest.is_empty() => {
                let (text, stdout) = usage("fdfs_file_info", prog);
                emit(&text, stdout);
                return 1;
            }
            _ => rest.push(a),
        }
    }
    if rest.len() < 2 {
        let (text, stdout) = usage("fdfs_file_info", prog);
        emit(&text, stdout);
        return 1;
    }
    let client = match init(rest[0]) {
        Ok(c) => c,
        Err(n) => return n,
    };
    let file_id = rest[1].as_str();
    let result: anyhow::Result<String> = async {
        // fdfs_get_file_info_ex: EINVAL for an ID it cannot take apart.
        let id = ferrodfs_client::FileId::parse(file_id)
            .map_err(|_| std::io::Error::from_raw_os_error(22))?;
        let remote = if info::needs_server(&id) {
            Some(client.file_info(file_id).await?)
        } else {
            None
        };
        info::describe(&id, remote.as_ref())
    }
    .await;
    match result {
        Ok(text) => print!("{text}"),
        Err(e) => eprint!("{}", fail_line("query file info", errno_of(&e))),
    }
    0
}

/// fdfs_monitor [<config_file>] [-h <tracker_server>] [list [<group>] |
/// delete <group> [<storage_id>] | set_trunk_server <group> [<storage_id>]]:
/// exits 0 once connected, whatever the command's outcome.
async fn fdfs_monitor(prog: &str, args: &[String]) -> i32 {
    if args.len() == 1 && args[0] == "-h" {
        let (text, stdout) = usage("fdfs_monitor", prog);
        emit(&text, stdout);
        return 0;
    }
    let conf = args.first().map_or(DEFAULT_CONF, String::as_str);
    let mut rest = args.get(1..).unwrap_or_default();
    let mut tracker = None;
    if let Some(h) = rest.first().filter(|a| a.starts_with("-h")) {
        if h.len() == 2 {
            let Some(t) = rest.get(1) else {
                let (text, stdout) = usage("fdfs_monitor", prog);
                emit(&text, stdout);
                return 1;
            };
            tracker = Some(t.clone());
            rest = &rest[2..];
        } else {
            tracker = Some(h[2..].to_string());
            rest = &rest[1..];
        }
    }
    let op = rest.first().map_or("list", String::as_str);
    let group = rest.get(1).map(String::as_str);
    let storage_id = rest.get(2).map(String::as_str);
    let client = match init(conf) {
        Ok(c) => c,
        Err(n) => return n,
    };
    let cfg = client.config().clone();
    let only = match &tracker {
        None => None,
        Some(t) => {
            let wanted = if t.contains(':') {
                t.clone()
            } else {
                format!("{t}:{TRACKER_PORT}")
            };
            match cfg.trackers.iter().position(|c| *c == wanted) {
                Some(i) => Some(i),
                None => {
                    println!("tracker server: {t} not exists!");
                    return 2;
                }
            }
        }
    };
    let (one, head) = match monitor::connect(&cfg, only).await {
        Ok(c) => c,
        Err(e) => {
            let n = errno_of(&e);
            eprint!("{}", fail_line("connect to tracker server", n));
            return n;
        }
    };
    print!("{head}");
    match op {
        "list" => {
            if let Ok(text) = monitor::report(&one, group).await {
                print!("{text}");
            }
        }
        "delete" => {
            let Some(group) = group else {
                let (text, stdout) = usage("fdfs_monitor", prog);
                emit(&text, stdout);
                return 1;
            };
            match storage_id {
                None => {
                    let answers = client.delete_group(group).await;
                    // FastDFS stops at the first tracker that refuses.
                    match answers.into_iter().find_map(|(_, r)| r.err()) {
                        None => println!("delete group: {group} success"),
                        Some(e) => {
                            let n = errno_of(&e.into());
                            print!("{}", fail_line(&format!("delete group: {group}"), n));
                        }
                    }
                }
                Some(id) => {
                    let answers = client.delete_storage(group, id).await;
                    let total = answers.len();
                    let mut missing = 0;
                    let mut failure = None;
                    for (_, r) in answers {
                        match r.map_err(|e| e.status()) {
                            Ok(()) => {}
                            Err(Some(2)) => missing += 1,
                            Err(Some(114)) => {}
                            Err(_) if failure.is_some() => {}
                            Err(s) => failure = Some(s.map_or(ECONNREFUSED, i32::from)),
                        }
                    }
                    let n = failure.unwrap_or(if missing == total { 2 } else { 0 });
                    if n == 0 {
                        println!("delete storage server {group}::{id} success");
                    } else {
                        print!(
                            "{}",
                            fail_line(&format!("delete storage server {group}::{id}"), n)
                        );
                    }
                }
            }
        }
        "set_trunk_server" => {
            let Some(group) = group else {
                let (text, stdout) = usage("fdfs_monitor", prog);
                emit(&text, stdout);
                return 1;
            };
            let id = storage_id.unwrap_or("");
            match client.set_trunk_server(group, id).await {
                Ok(new) => {
                    println!("set trunk server {group}::{id} success, new trunk server: {new}")
                }
                Err(e) => {
                    let n = errno_of(&e.into());
                    print!(
                        "{}",
                        fail_line(&format!("set trunk server {group}::{id}"), n)
                    );
                }
            }
        }
        other => {
            println!("Invalid command {other}\n");
            let (text, stdout) = usage("fdfs_monitor", prog);
            emit(&text, stdout);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_tool_names_through_paths() {
        let argv = |s: &str| vec![s.to_string()];
        assert_eq!(
            tool_name(&argv("/usr/bin/fdfs_upload_file")),
            Some("fdfs_upload_file")
        );
        assert_eq!(tool_name(&argv("fdfs_monitor")), Some("fdfs_monitor"));
        assert_eq!(
            tool_name(&argv("fdfs_regenerate_filename")),
            Some("fdfs_regenerate_filename")
        );
        assert_eq!(tool_name(&argv("/usr/bin/ferrodfs")), None);
        assert_eq!(tool_name(&argv("fdfs_unknown")), None);
    }

    #[test]
    fn failures_read_like_fastdfs_tools() {
        assert_eq!(
            fail_line("delete file", 2),
            "delete file fail, error no: 2, error info: No such file or directory\n"
        );
        let e: anyhow::Error = ClientError::Proto(ProtoError::Status(2)).into();
        assert_eq!(errno_of(&e), 2);
        let e: anyhow::Error = std::io::Error::from_raw_os_error(13).into();
        assert_eq!(errno_of(&e), 13);
    }

    #[test]
    fn offsets_parse_like_strtoll() {
        assert_eq!(strtoll("12"), 12);
        assert_eq!(strtoll("12abc"), 12);
        assert_eq!(strtoll("abc"), 0);
    }
}
