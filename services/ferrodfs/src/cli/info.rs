//! `info`: what a file ID says about its file. Everything but the size of
//! an appender file is encoded in the ID itself, so no server is needed.

use anyhow::Context;
use ferrodfs_client::{FileId, FileInfoReply};
use ferrodfs_proto::file_id::Source;

use super::Conn;

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub conn: Conn,
    pub file_id: String,
    /// Also ask the storage (needed for the current size of appender files).
    #[arg(long)]
    pub remote: bool,
}

pub async fn run(a: InfoArgs) -> anyhow::Result<()> {
    let id = FileId::parse(&a.file_id).map_err(|e| anyhow::anyhow!("{:?}: {e}", a.file_id))?;
    let remote = if a.remote || needs_server(&id) {
        match a.conn.client() {
            Ok(c) => Some(
                c.file_info(&a.file_id)
                    .await
                    .with_context(|| format!("query {}", a.file_id))?,
            ),
            Err(e) if a.remote => return Err(e),
            Err(_) => None,
        }
    } else {
        None
    };
    print!("{}", describe(&id, remote.as_ref())?);
    Ok(())
}

/// Whether fdfs_file_info asks the storage about this file: appender and
/// slave names do not carry the content's size and CRC, and a numeric
/// source id names no address (fdfs_get_file_info_ex).
pub fn needs_server(id: &FileId) -> bool {
    id.name
        .info()
        .is_some_and(|i| i.is_appender() || id.name.is_slave() || matches!(i.source, Source::Id(_)))
}

/// The report of FastDFS 6.16's fdfs_file_info, line for line: the
/// storage's answer when there is one, else what the name encodes.
pub fn describe(id: &FileId, remote: Option<&FileInfoReply>) -> anyhow::Result<String> {
    let info = id
        .name
        .info()
        .ok_or_else(|| anyhow::anyhow!("{id}: the name part does not decode"))?;
    // FastDFS tests the appender flag before the name length.
    let kind = if info.is_appender() {
        "appender"
    } else if id.name.is_slave() {
        "slave"
    } else {
        "normal"
    };
    let (storage_id, ip) = match info.source {
        Source::Ip(ip) => (0, ip.to_string()),
        Source::Id(n) => (n, String::new()),
    };
    let (created, size, crc, ip) = match remote {
        Some(r) => (
            r.create_time as i64,
            r.size as i64,
            r.crc32,
            r.source_ip.clone(),
        ),
        None if kind == "normal" => (
            info.create_time as i64,
            info.size().unwrap_or(0) as i64,
            info.crc32,
            ip,
        ),
        // Not asked: FastDFS leaves the size at -1 and the CRC at 0.
        None => (info.create_time as i64, -1, 0, ip),
    };
    Ok(format!(
        "GET FROM SERVER: {}\n\nfile type: {kind}\nsource storage id: {storage_id}\n\
         source ip address: {ip}\nfile create timestamp: {}\nfile size: {size}\n\
         file crc32: {} (0x{crc:08x})\n\n",
        remote.is_some(),
        super::human::datetime(created),
        crc as i32,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_fastdfs_id_decodes_offline() {
        let id = FileId::parse("group1/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz").unwrap();
        let text = describe(&id, None).unwrap();
        assert!(text.contains("GET FROM SERVER: false"), "{text}");
        assert!(text.contains("file type: normal"), "{text}");
        assert!(text.contains("source ip address: 192.168.1.135"), "{text}");
        assert!(text.contains("file create timestamp: 2015-09-0"), "{text}");
    }

    #[test]
    fn the_server_answer_wins_when_present() {
        let id = FileId::parse("group1/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz").unwrap();
        let r = FileInfoReply {
            size: 7,
            create_time: 0,
            crc32: 0xDEADBEEF,
            source_ip: "192.168.1.135".into(),
        };
        let text = describe(&id, Some(&r)).unwrap();
        assert!(text.contains("file size: 7\n"), "{text}");
        assert!(
            text.ends_with("file crc32: -559038737 (0xdeadbeef)\n\n"),
            "signed, lower-case hex, then a blank line: {text}"
        );
    }

    #[test]
    fn fdfs_file_info_lines_are_exact() {
        let id = FileId::parse("group1/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz").unwrap();
        let time = super::super::human::datetime(1_441_640_415);
        assert_eq!(
            describe(&id, None).unwrap(),
            format!(
                "GET FROM SERVER: false\n\nfile type: normal\nsource storage id: 0\n\
                 source ip address: 192.168.1.135\nfile create timestamp: {time}\n\
                 file size: 345400\nfile crc32: -1094376114 (0xbec5254e)\n\n"
            )
        );
        assert!(!needs_server(&id), "a normal file is described offline");
        let by_id = FileId::parse("group1/M00/00/00/oYYBAFXtr9-AeTfWAAVFOL7FJU4.tar.gz").unwrap();
        assert!(needs_server(&by_id), "a storage id names no address");
    }
}
