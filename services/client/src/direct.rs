//! Requests aimed at one named server rather than the one a tracker picks:
//! checking what each member of a group holds (replication tests and
//! tools), and cluster administration that every tracker must hear.

use std::time::Duration;

use ferrodfs_proto::auth::authenticate;
use ferrodfs_proto::cluster::ScrubReport;
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
        self.on_every_tracker(cmd::DELETE_STORAGE, &body).await
    }

    /// Removes an empty `group` (FastDFS DELETE_GROUP, 108) on every
    /// tracker; each tracker's answer, as [`Client::delete_storage`].
    pub async fn delete_group(&self, group: &str) -> Vec<(String, Result<()>)> {
        let mut body = Vec::new();
        put_fixed(&mut body, group, GROUP_NAME_LEN);
        self.on_every_tracker(cmd::DELETE_GROUP, &body).await
    }

    async fn on_every_tracker(&self, command: u8, body: &[u8]) -> Vec<(String, Result<()>)> {
        let mut out = Vec::new();
        for t in &self.config().trackers {
            let r = self.call_admin(t, command, body).await.map(|_| ());
            out.push((t.clone(), r));
        }
        out
    }

    /// Opens a new connection to `addr` and sees it answer ACTIVE_TEST,
    /// first proving the cluster secret when `authenticated`: what each
    /// internal connection costs (`ferrodfs bench --op connect`).
    pub async fn connect_and_test(&self, addr: &str, authenticated: bool) -> Result<()> {
        if authenticated {
            self.call_admin(addr, cmd::ACTIVE_TEST, &[]).await?;
        } else {
            let mut conn = self.pool().fresh(addr).await?;
            ferrodfs_proto::io::call(&mut conn.stream, cmd::ACTIVE_TEST, &[], 0).await?;
        }
        Ok(())
    }

    /// Runs a scrub pass on the storage at `addr` now and returns what it
    /// found and repaired; waits up to `within` (a pass reads every copy).
    pub async fn scrub(&self, addr: &str, within: Duration) -> Result<ScrubReport> {
        let reply = self
            .call_admin_within(addr, cmd::SCRUB, &[], within)
            .await?;
        serde_json::from_slice(&reply).map_err(|e| {
            ClientError::Proto(ferrodfs_proto::io::ProtoError::BadReply(e.to_string()))
        })
    }

    /// An admin command on a fresh connection that first proves the
    /// cluster secret (trackers refuse admin commands otherwise).
    async fn call_admin(&self, addr: &str, command: u8, body: &[u8]) -> Result<Vec<u8>> {
        self.call_admin_within(addr, command, body, self.config().network_timeout)
            .await
    }

    async fn call_admin_within(
        &self,
        addr: &str,
        command: u8,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        let secret = self.config().cluster_secret.as_ref().ok_or_else(|| {
            ClientError::Auth(
                "admin commands need the cluster secret: add cluster_secret = <secret> \
                 to the client config"
                    .into(),
            )
        })?;
        let mut conn = self.pool().fresh(addr).await?;
        let stream = &mut conn.stream;
        let exchange = async {
            authenticate(stream, secret)
                .await
                .map_err(|e| ClientError::Auth(format!("{addr}: {e}")))?;
            ferrodfs_proto::io::call(stream, command, body, 1 << 20)
                .await
                .map_err(ClientError::from)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout(format!("request to {addr}")))?
    }

    /// Makes `storage_id` (empty: the tracker's choice) the trunk server
    /// of `group` (SET_TRUNK_SERVER, 94) and returns the one in place, as
    /// FastDFS's client does: trackers that are not the leader answer
    /// EOPNOTSUPP and the next is asked. ferrodfs trackers never use trunk
    /// files and always answer EOPNOTSUPP.
    pub async fn set_trunk_server(&self, group: &str, storage_id: &str) -> Result<String> {
        let mut body = Vec::new();
        put_fixed(&mut body, group, GROUP_NAME_LEN);
        body.extend_from_slice(storage_id.as_bytes());
        let mut last = ClientError::Proto(ferrodfs_proto::io::ProtoError::Status(
            ferrodfs_proto::status::EOPNOTSUPP,
        ));
        for t in &self.config().trackers {
            match self.call(t, cmd::SET_TRUNK_SERVER, &body).await {
                Ok(reply) => return Ok(ferrodfs_proto::fields::get_fixed(&reply)),
                Err(e) if e.status() == Some(ferrodfs_proto::status::EOPNOTSUPP) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}
