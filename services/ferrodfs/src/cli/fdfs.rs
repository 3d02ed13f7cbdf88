//! FastDFS tool names. A symlink `fdfs_upload_file -> ferrodfs` runs the
//! matching command with FastDFS's argument shape (client config first),
//! prints what the FastDFS tool prints, and exits with the errno status the
//! FastDFS tool would return.

use std::path::Path;

use ferrodfs_client::{ClientError, UploadKind};

use super::{client_from_conf, files, info, monitor};

pub const TOOLS: &[(&str, &str)] = &[
    (
        "fdfs_upload_file",
        "<config_file> <local_filename> [storage_ip:port] [store_path_index]",
    ),
    ("fdfs_upload_appender", "<config_file> <local_filename>"),
    (
        "fdfs_append_file",
        "<config_file> <appender_file_id> <local_filename>",
    ),
    (
        "fdfs_download_file",
        "<config_file> <file_id> [local_filename] [<download_offset> <download_bytes>]",
    ),
    ("fdfs_delete_file", "<config_file> <file_id>"),
    ("fdfs_file_info", "<config_file> <file_id>"),
    (
        "fdfs_monitor",
        "<config_file> [-h <tracker_server>] [list [<group_name> [<storage_id>]]]",
    ),
];

/// The FastDFS tool this process was started as, if any.
pub fn tool_name(argv: &[String]) -> Option<&'static str> {
    let base = Path::new(argv.first()?).file_name()?.to_str()?;
    TOOLS.iter().map(|(n, _)| *n).find(|n| *n == base)
}

pub fn main(tool: &'static str, args: &[String]) -> i32 {
    let usage = TOOLS
        .iter()
        .find(|(n, _)| *n == tool)
        .map(|(_, u)| *u)
        .unwrap_or("");
    let min = match tool {
        "fdfs_append_file" => 3,
        "fdfs_monitor" => 1,
        _ => 2,
    };
    if args.len() < min || args.iter().any(|a| a == "--help") {
        eprintln!("Usage: {tool} {usage}");
        return 1;
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{tool}: {e}");
            return 1;
        }
    };
    match rt.block_on(run(tool, args)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{tool}: {e:#}");
            e.downcast_ref::<ClientError>()
                .and_then(ClientError::status)
                .map(i32::from)
                .unwrap_or(1)
        }
    }
}

async fn run(tool: &str, args: &[String]) -> anyhow::Result<()> {
    let client = client_from_conf(&args[0])?;
    match tool {
        "fdfs_upload_file" | "fdfs_upload_appender" => {
            let kind = if tool == "fdfs_upload_appender" {
                UploadKind::Appender
            } else {
                UploadKind::Normal
            };
            let id = client.upload_file(Path::new(&args[1]), None, kind).await?;
            println!("{id}");
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
            let offset = num(args.get(3), "download_offset")?;
            let length = num(args.get(4), "download_bytes")?;
            files::download_to_path(&client, &args[1], &dest, offset, length).await?;
        }
        "fdfs_delete_file" => client.delete(&args[1]).await?,
        "fdfs_file_info" => {
            let id = ferrodfs_client::FileId::parse(&args[1])
                .map_err(|e| anyhow::anyhow!("{}: {e}", args[1]))?;
            let remote = client.file_info(&args[1]).await?;
            print!("{}", info::describe(&id, Some(&remote))?);
        }
        "fdfs_monitor" => {
            let mut rest = &args[1..];
            let mut client = client;
            if rest.first().map(String::as_str) == Some("-h") {
                let t = rest
                    .get(1)
                    .ok_or_else(|| anyhow::anyhow!("-h needs a tracker address"))?;
                client = ferrodfs_client::Client::new(
                    ferrodfs_client::ClientConfig::parse(&format!("tracker_server={t}\n"))
                        .map_err(anyhow::Error::msg)?,
                );
                rest = &rest[2..];
            }
            let group = match rest.first().map(String::as_str) {
                None | Some("list") => rest.get(1).map(String::as_str),
                Some(other) => {
                    anyhow::bail!("unsupported fdfs_monitor command {other:?} (supported: list)")
                }
            };
            print!("{}", monitor::report(&client, group).await?);
        }
        _ => unreachable!("tool_name only returns names from TOOLS"),
    }
    Ok(())
}

fn num(a: Option<&String>, what: &str) -> anyhow::Result<u64> {
    a.map(|s| {
        s.parse::<u64>()
            .map_err(|_| anyhow::anyhow!("{what}: {s:?} is not a number"))
    })
    .unwrap_or(Ok(0))
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
        assert_eq!(tool_name(&argv("/usr/bin/ferrodfs")), None);
        assert_eq!(tool_name(&argv("fdfs_unknown")), None);
    }
}
