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
    let remote = if a.remote || id.name.is_appender() || id.name.is_slave() {
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

/// The report in fdfs_file_info's shape (the same lines, so scripts that
/// grep them keep working).
pub fn describe(id: &FileId, remote: Option<&FileInfoReply>) -> anyhow::Result<String> {
    let info = id
        .name
        .info()
        .ok_or_else(|| anyhow::anyhow!("{id}: the name part does not decode"))?;
    let kind = if id.name.is_slave() {
        "slave"
    } else if info.is_appender() {
        "appender"
    } else {
        "normal"
    };
    let (storage_id, ip) = match info.source {
        Source::Ip(ip) => ("0".to_string(), ip.to_string()),
        Source::Id(n) => (
            n.to_string(),
            remote.map(|r| r.source_ip.clone()).unwrap_or_default(),
        ),
    };
    let (created, size, crc) = match remote {
        Some(r) => (r.create_time as i64, r.size, r.crc32),
        None => (
            info.create_time as i64,
            info.size().unwrap_or(0),
            info.crc32,
        ),
    };
    let time = chrono::DateTime::from_timestamp(created, 0)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| created.to_string());
    Ok(format!(
        "GET FROM SERVER: {}\n\nfile type: {kind}\nsource storage id: {storage_id}\n\
         source ip address: {ip}\nfile create timestamp: {time}\nfile size: {size}\n\
         file crc32: {crc} (0x{crc:08X})\n",
        remote.is_some()
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
        assert!(text.contains("(0xDEADBEEF)"), "{text}");
    }
}
