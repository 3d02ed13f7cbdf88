//! Requests aimed at one named server rather than the one a tracker picks:
//! checking what each member of a group holds (replication tests and
//! tools), and cluster administration that every tracker must hear.

use ferrodfs_proto::cmd;
use ferrodfs_proto::fields::{put_fixed, GROUP_NAME_LEN};
use ferrodfs_proto::storage_req::{Download, FileInfoReply, GroupName};

use crate::{parse_id, Client, ClientError, Result};

impl Client {
    /// Downloads a whole (small: up to 16 MiB) file from the storage at
    /// `addr` (`ip:port`), whatever the trackers say about who holds it.
    pub async fn download_from(&self, addr: &str, file_id: &str) -> Result<Vec<u8>> {
        let id = parse_id(file_id)?;
        let body = Download::encode(0, 0, &id.group, &id.name.to_string());
        self.call(addr, cmd::DOWNLOAD_FILE, &body).await
    }

    /// The raw metadata of a file as the storage at `addr` holds it.
    pub async fn metadata_from(&self, addr: &str, file_id: &str) -> Result<Vec<u8>> {
        let id = parse_id(file_id)?;
        let body = GroupName::encode(&id.group, &id.name.to_string());
        self.call(addr, cmd::GET_METADATA, &body).await
    }

    /// File info as the storage at `addr` reports it.
    pub async fn file_info_from(&self, addr: &str, file_id: &str) -> Result<FileInfoReply> {
        let id = parse_id(file_id)?;
        let body = GroupName::encode(&id.group, &id.name.to_string());
        let reply = self.call(addr, cmd::QUERY_FILE_INFO, &body).await?;
        FileInfoReply::parse(&reply).map_err(|e| {
            ClientError::Proto(ferrodfs_proto::io::ProtoError::BadReply(e.to_string()))
        })
    }

    /// Removes storage `ip` from `group` (FastDFS DELETE_STORAGE, 93) on
    /// every tracker, since each keeps its own view. Returns each
    /// tracker's answer; a storage still ACTIVE is refused with EBUSY.
    pub async fn delete_storage(&self, group: &str, ip: &str) -> Vec<(String, Result<()>)> {
        let mut body = Vec::new();
        put_fixed(&mut body, group, GROUP_NAME_LEN);
        body.extend_from_slice(ip.as_bytes());
        let mut out = Vec::new();
        for t in &self.config().trackers {
            let r = self.call(t, cmd::DELETE_STORAGE, &body).await.map(|_| ());
            out.push((t.clone(), r));
        }
        out
    }
}
