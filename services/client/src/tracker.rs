//! Tracker queries. Trackers are peers that all know the whole cluster,
//! so any of them can answer: a transport failure moves on to the next
//! one, and so do ENOENT and EAGAIN (a tracker that just started may not
//! know yet); any other error status (ENOSPC...) is the cluster's answer
//! and is returned as is.

use std::time::{Duration, Instant};

use ferrodfs_proto::fields::{put_fixed, GROUP_NAME_LEN};
use ferrodfs_proto::io;
use ferrodfs_proto::overview::ClusterStatus;
use ferrodfs_proto::stat::{GroupStat, StorageStat};
use ferrodfs_proto::storage_req::GroupName;
use ferrodfs_proto::tracker_req::{FetchTarget, StoreTarget};
use ferrodfs_proto::{cmd, status};

use crate::{next_index, parse_id, Client, ClientError, Result};

const MAX_REPLY: u64 = 16 << 20;

impl Client {
    /// One request to the first tracker that answers. A tracker that just
    /// started answers EAGAIN where it cannot tell yet: the others are
    /// asked, and the round is repeated until one knows or
    /// `warm_up_wait` has passed.
    pub(crate) async fn tracker_call(&self, command: u8, body: &[u8]) -> Result<Vec<u8>> {
        let deadline = Instant::now() + self.inner.cfg.warm_up_wait;
        let mut pause = Duration::from_millis(50);
        loop {
            match self.tracker_round(command, body).await {
                Err(e) if e.status() == Some(status::EAGAIN) && Instant::now() < deadline => {
                    tracing::debug!("every tracker is warming up; asking again in {pause:?}");
                    tokio::time::sleep(pause.min(deadline - Instant::now())).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                r => return r,
            }
        }
    }

    /// Asks each tracker once, starting at the next in turn.
    async fn tracker_round(&self, command: u8, body: &[u8]) -> Result<Vec<u8>> {
        let trackers = &self.inner.cfg.trackers;
        let start = next_index(&self.inner.next_tracker, trackers.len());
        let mut last: Option<ClientError> = None;
        let mut not_found: Option<ClientError> = None;
        let mut warming: Option<ClientError> = None;
        for i in 0..trackers.len() {
            let addr = &trackers[(start + i) % trackers.len()];
            match self.call(addr, command, body).await {
                Ok(reply) => return Ok(reply),
                Err(e) if e.is_transport() => {
                    tracing::debug!(tracker = %addr, "tracker failed, trying the next: {e}");
                    last = Some(e);
                }
                // A tracker that just restarted knows no storage until they
                // report again; a peer may already know. ENOENT stands only
                // once every tracker has said it or cannot tell yet.
                Err(e) if e.is_not_found() => {
                    not_found = Some(e);
                }
                Err(e) if e.status() == Some(status::EAGAIN) => {
                    tracing::debug!(tracker = %addr, "tracker warming up, trying the next");
                    warming = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(e) = not_found.or(warming) {
            return Err(e);
        }
        Err(ClientError::NoTracker {
            tried: trackers.join(", "),
            last: last
                .map(|e| e.to_string())
                .unwrap_or_else(|| "no tracker configured".into()),
        })
    }

    /// One small request/response on a pooled connection to `addr`; a
    /// pooled connection the server already closed is replaced once.
    pub(crate) async fn call(&self, addr: &str, command: u8, body: &[u8]) -> Result<Vec<u8>> {
        let timeout = self.inner.cfg.network_timeout;
        let mut conn = self.pool().get(addr).await?;
        loop {
            let r = tokio::time::timeout(
                timeout,
                io::call(&mut conn.stream, command, body, MAX_REPLY),
            )
            .await
            .map_err(|_| ClientError::Timeout(format!("request to {addr}")))
            .and_then(|r| r.map_err(ClientError::from));
            match r {
                Ok(reply) => {
                    self.pool().put(conn);
                    return Ok(reply);
                }
                Err(e) if e.status().is_some() => {
                    // An error reply leaves the connection in a clean state.
                    self.pool().put(conn);
                    return Err(e);
                }
                Err(e) if conn.reused && e.is_stale_connection() => {
                    conn = self.pool().fresh(addr).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Where to upload: `group` names one, otherwise the tracker chooses.
    pub async fn query_store(&self, group: Option<&str>) -> Result<StoreTarget> {
        let reply = match group {
            Some(g) => {
                let mut body = Vec::new();
                put_fixed(&mut body, g, GROUP_NAME_LEN);
                self.tracker_call(cmd::QUERY_STORE_WITH_GROUP_ONE, &body)
                    .await?
            }
            None => {
                self.tracker_call(cmd::QUERY_STORE_WITHOUT_GROUP_ONE, &[])
                    .await?
            }
        };
        Ok(StoreTarget::parse(&reply).map_err(|e| io::ProtoError::BadReply(e.to_string()))?)
    }

    /// Every storage that may take an upload (106/107).
    pub async fn query_store_all(&self, group: Option<&str>) -> Result<StoreTarget> {
        let reply = match group {
            Some(g) => {
                let mut body = Vec::new();
                put_fixed(&mut body, g, GROUP_NAME_LEN);
                self.tracker_call(cmd::QUERY_STORE_WITH_GROUP_ALL, &body)
                    .await?
            }
            None => {
                self.tracker_call(cmd::QUERY_STORE_WITHOUT_GROUP_ALL, &[])
                    .await?
            }
        };
        Ok(StoreTarget::parse(&reply).map_err(|e| io::ProtoError::BadReply(e.to_string()))?)
    }

    /// A storage that holds the file, for reads.
    pub async fn query_fetch(&self, file_id: &str) -> Result<FetchTarget> {
        self.fetch_query(cmd::QUERY_FETCH_ONE, file_id).await
    }

    /// Every storage that holds the file.
    pub async fn query_fetch_all(&self, file_id: &str) -> Result<FetchTarget> {
        self.fetch_query(cmd::QUERY_FETCH_ALL, file_id).await
    }

    /// The storage to send changes of an existing file to (its source).
    pub async fn query_update(&self, file_id: &str) -> Result<FetchTarget> {
        self.fetch_query(cmd::QUERY_UPDATE, file_id).await
    }

    async fn fetch_query(&self, command: u8, file_id: &str) -> Result<FetchTarget> {
        let id = parse_id(file_id)?;
        let body = GroupName::encode(&id.group, &id.name.to_string());
        let reply = self.tracker_call(command, &body).await?;
        Ok(FetchTarget::parse(&reply).map_err(|e| io::ProtoError::BadReply(e.to_string()))?)
    }

    /// The cluster as a ferrodfs tracker sees it (CLUSTER_STATUS): what
    /// its status page shows. FastDFS trackers do not know the command.
    pub async fn cluster_status(&self) -> Result<ClusterStatus> {
        let reply = self.tracker_call(cmd::CLUSTER_STATUS, &[]).await?;
        Ok(serde_json::from_slice(&reply)
            .map_err(|e| io::ProtoError::BadReply(format!("not a cluster status: {e}")))?)
    }

    pub async fn list_groups(&self) -> Result<Vec<GroupStat>> {
        let reply = self.tracker_call(cmd::LIST_ALL_GROUPS, &[]).await?;
        Ok(GroupStat::decode_all(&reply).map_err(|e| io::ProtoError::BadReply(e.to_string()))?)
    }

    /// Storages of `group`, or just `storage_id` in it.
    pub async fn list_storages(
        &self,
        group: &str,
        storage_id: Option<&str>,
    ) -> Result<Vec<StorageStat>> {
        let mut body = Vec::new();
        put_fixed(&mut body, group, GROUP_NAME_LEN);
        if let Some(id) = storage_id {
            // Unpadded, as FastDFS clients send it: the tracker takes the
            // id's length from the body length and refuses 16 bytes or more.
            body.extend_from_slice(id.as_bytes());
        }
        let reply = self.tracker_call(cmd::LIST_STORAGE, &body).await?;
        if reply.is_empty() {
            return Ok(Vec::new());
        }
        Ok(StorageStat::decode_all(&reply).map_err(|e| io::ProtoError::BadReply(e.to_string()))?)
    }
}
