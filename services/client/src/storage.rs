//! File operations: ask a tracker which storage to use, then talk to that
//! storage directly, the way every FastDFS client does.

use std::path::Path;

use ferrodfs_proto::header::Header;
use ferrodfs_proto::storage_req::{
    parse_upload_reply, Download, FileInfoReply, GroupName, MetaFlag, SetMeta, SlaveHead, Truncate,
    UploadHead, WriteHead,
};
use ferrodfs_proto::tracker_req::Addr;
use ferrodfs_proto::{cmd, io, meta};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

use crate::pool::Conn;
use crate::{parse_id, Client, ClientError, FileId, Meta, Result};

/// Bodies up to this size are sent in the same write as the header.
const INLINE_BODY: usize = 64 << 10;
const MAX_SMALL_REPLY: u64 = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    Normal,
    /// An appender file: may later be appended to, modified, truncated.
    Appender,
}

/// What is sent after the request head.
enum Content<'a> {
    Bytes(&'a [u8]),
    File(&'a mut tokio::fs::File, u64),
}

impl Content<'_> {
    fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::File(_, n) => *n,
        }
    }
}

fn addr_of(a: &Addr) -> String {
    format!("{}:{}", a.ip, a.port)
}

fn bad_reply(e: impl ToString) -> ClientError {
    ClientError::Proto(io::ProtoError::BadReply(e.to_string()))
}

impl Client {
    /// Uploads `data`; `ext` is the file extension without the dot.
    pub async fn upload(
        &self,
        data: &[u8],
        ext: &str,
        group: Option<&str>,
        kind: UploadKind,
    ) -> Result<String> {
        self.upload_content(Content::Bytes(data), ext, group, kind)
            .await
    }

    /// Uploads a local file, streaming it; the extension is taken from its name.
    pub async fn upload_file(
        &self,
        path: &Path,
        group: Option<&str>,
        kind: UploadKind,
    ) -> Result<String> {
        let mut f = tokio::fs::File::open(path).await?;
        let len = f.metadata().await?.len();
        let ext = ferrodfs_proto::fields::ext_of(&path.to_string_lossy());
        self.upload_content(Content::File(&mut f, len), &ext, group, kind)
            .await
    }

    /// Uploads a local file to `storage` itself, as FastDFS's tools do
    /// when given `storage_ip:port`: no tracker is asked, and `None` for
    /// the store path lets the storage choose.
    pub async fn upload_file_to(
        &self,
        storage: &Addr,
        store_path_index: Option<u8>,
        path: &Path,
        kind: UploadKind,
    ) -> Result<String> {
        let mut f = tokio::fs::File::open(path).await?;
        let len = f.metadata().await?.len();
        let ext = ferrodfs_proto::fields::ext_of(&path.to_string_lossy());
        let mut content = Content::File(&mut f, len);
        self.upload_at(storage, store_path_index, &mut content, &ext, kind)
            .await
    }

    async fn upload_content(
        &self,
        mut content: Content<'_>,
        ext: &str,
        group: Option<&str>,
        kind: UploadKind,
    ) -> Result<String> {
        let target = self.query_store(group).await?;
        let storage = target
            .storages
            .first()
            .ok_or_else(|| bad_reply("query store: no storage"))?;
        let first = self
            .upload_at(
                storage,
                Some(target.store_path_index),
                &mut content,
                ext,
                kind,
            )
            .await;
        match first {
            // The storage may be cut off or frozen while the trackers still
            // list it ACTIVE: ask again and try once more, on another
            // member when there is one. (A storage that timed out may
            // have kept the first copy: an orphan, never a lost upload.)
            Err(e) if e.is_transport() => {
                let failed = addr_of(storage);
                tracing::warn!(storage = %failed, "upload failed, asking the tracker again: {e}");
                if let Content::File(f, _) = &mut content {
                    f.rewind().await?;
                }
                let again = self.query_store_all(group).await?;
                let next = again
                    .storages
                    .iter()
                    .find(|s| addr_of(s) != failed)
                    .or(again.storages.first())
                    .ok_or_else(|| bad_reply("query store: no storage"))?;
                self.upload_at(next, Some(again.store_path_index), &mut content, ext, kind)
                    .await
            }
            r => r,
        }
    }

    async fn upload_at(
        &self,
        storage: &Addr,
        store_path_index: Option<u8>,
        content: &mut Content<'_>,
        ext: &str,
        kind: UploadKind,
    ) -> Result<String> {
        let head = UploadHead {
            store_path_index,
            file_size: content.len(),
            ext: ext.to_string(),
        }
        .encode();
        let command = match kind {
            UploadKind::Normal => cmd::UPLOAD_FILE,
            UploadKind::Appender => cmd::UPLOAD_APPENDER_FILE,
        };
        let reply = self
            .exchange(&addr_of(storage), command, &head, content)
            .await?;
        let (g, name) = parse_upload_reply(&reply).map_err(bad_reply)?;
        Ok(format!("{g}/{name}"))
    }

    /// Uploads a slave file beside `master_id` (e.g. a thumbnail). The
    /// storage names it as [`crate::slave_file_id`] computes with
    /// `Some(ext)`: the master's name up to its extension, `prefix`, then
    /// `.ext` (no extension when `ext` is empty).
    pub async fn upload_slave(
        &self,
        master_id: &str,
        prefix: &str,
        ext: &str,
        data: &[u8],
    ) -> Result<String> {
        let id = parse_id(master_id)?;
        let target = self.query_update(master_id).await?;
        let master = id.name.to_string();
        let head = SlaveHead {
            master_len: master.len() as u64,
            file_size: data.len() as u64,
            prefix: prefix.to_string(),
            ext: ext.to_string(),
        }
        .encode(&master);
        let reply = self
            .exchange(
                &addr_of(&target.storages[0]),
                cmd::UPLOAD_SLAVE_FILE,
                &head,
                &mut Content::Bytes(data),
            )
            .await?;
        let (g, name) = parse_upload_reply(&reply).map_err(bad_reply)?;
        Ok(format!("{g}/{name}"))
    }

    pub async fn append(&self, file_id: &str, data: &[u8]) -> Result<()> {
        let id = parse_id(file_id)?;
        let name = id.name.to_string();
        let head = WriteHead {
            name_len: name.len() as u64,
            offset: None,
            file_size: data.len() as u64,
        }
        .encode(&name);
        self.update(file_id, cmd::APPEND_FILE, &head, data).await
    }

    pub async fn modify(&self, file_id: &str, offset: u64, data: &[u8]) -> Result<()> {
        let id = parse_id(file_id)?;
        let name = id.name.to_string();
        let head = WriteHead {
            name_len: name.len() as u64,
            offset: Some(offset),
            file_size: data.len() as u64,
        }
        .encode(&name);
        self.update(file_id, cmd::MODIFY_FILE, &head, data).await
    }

    pub async fn truncate(&self, file_id: &str, new_size: u64) -> Result<()> {
        let id = parse_id(file_id)?;
        let body = Truncate::encode(&id.name.to_string(), new_size);
        self.update(file_id, cmd::TRUNCATE_FILE, &body, &[]).await
    }

    /// Turns an appender file into a normal file under a new name, which
    /// is returned (REGENERATE_APPENDER_FILENAME, FastDFS 6.02+); the old
    /// ID stops working.
    pub async fn regenerate_appender_filename(&self, file_id: &str) -> Result<String> {
        let id = parse_id(file_id)?;
        let target = self.query_update(file_id).await?;
        let name = id.name.to_string();
        let reply = self
            .exchange(
                &addr_of(&target.storages[0]),
                cmd::REGENERATE_APPENDER_FILENAME,
                name.as_bytes(),
                &mut Content::Bytes(&[]),
            )
            .await?;
        let (g, name) = parse_upload_reply(&reply).map_err(bad_reply)?;
        Ok(format!("{g}/{name}"))
    }

    pub async fn delete(&self, file_id: &str) -> Result<()> {
        let id = parse_id(file_id)?;
        let body = GroupName::encode(&id.group, &id.name.to_string());
        self.update(file_id, cmd::DELETE_FILE, &body, &[]).await
    }

    pub async fn set_meta(&self, file_id: &str, items: &Meta, flag: MetaFlag) -> Result<()> {
        let id = parse_id(file_id)?;
        let body = SetMeta::encode(flag, &id.group, &id.name.to_string(), &meta::encode(items));
        self.update(file_id, cmd::SET_METADATA, &body, &[]).await
    }

    pub async fn get_meta(&self, file_id: &str) -> Result<Meta> {
        let reply = self.read_call(file_id, cmd::GET_METADATA).await?;
        Ok(meta::decode(&reply))
    }

    /// Size, create time, CRC32 and source as the storage reports them.
    pub async fn file_info(&self, file_id: &str) -> Result<FileInfoReply> {
        let reply = self.read_call(file_id, cmd::QUERY_FILE_INFO).await?;
        FileInfoReply::parse(&reply).map_err(bad_reply)
    }

    /// Downloads `length` bytes from `offset` (0 = to the end) into memory.
    pub async fn download(&self, file_id: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.download_to(file_id, offset, length, &mut out).await?;
        Ok(out)
    }

    /// Streams a download into `w`; returns the byte count.
    pub async fn download_to<W: AsyncWrite + Unpin>(
        &self,
        file_id: &str,
        offset: u64,
        length: u64,
        w: &mut W,
    ) -> Result<u64> {
        let id = parse_id(file_id)?;
        let target = self.query_fetch(file_id).await?;
        let addr = addr_of(&target.storages[0]);
        let body = Download::encode(offset, length, &id.group, &id.name.to_string());
        let mut conn = self.pool().get(&addr).await?;
        let header = match self
            .send_and_read_header(&mut conn, cmd::DOWNLOAD_FILE, &body)
            .await
        {
            Err(e) if conn.reused && e.is_stale_connection() => {
                conn = self.pool().fresh(&addr).await?;
                self.send_and_read_header(&mut conn, cmd::DOWNLOAD_FILE, &body)
                    .await
            }
            other => other,
        };
        let header = match header {
            Ok(h) => h,
            Err(e) => {
                if e.status().is_some() {
                    self.pool().put(conn);
                }
                return Err(e);
            }
        };
        let n = tokio::io::copy(&mut (&mut conn.stream).take(header.pkg_len), w).await?;
        if n != header.pkg_len {
            return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.pool().put(conn);
        Ok(n)
    }

    async fn send_and_read_header(
        &self,
        conn: &mut Conn,
        command: u8,
        body: &[u8],
    ) -> Result<Header> {
        let timeout = self.inner.cfg.network_timeout;
        tokio::time::timeout(timeout, async {
            io::send(
                &mut conn.stream,
                Header::request(command, body.len() as u64),
                body,
            )
            .await?;
            io::read_response_header(&mut conn.stream, u64::MAX >> 1).await
        })
        .await
        .map_err(|_| ClientError::Timeout(format!("request to {}", conn.addr)))?
        .map_err(ClientError::from)
    }

    /// A read-side request (get metadata, file info) to a storage that has the file.
    async fn read_call(&self, file_id: &str, command: u8) -> Result<Vec<u8>> {
        let id: FileId = parse_id(file_id)?;
        let target = self.query_fetch(file_id).await?;
        let body = GroupName::encode(&id.group, &id.name.to_string());
        self.call(&addr_of(&target.storages[0]), command, &body)
            .await
    }

    /// A change to an existing file, sent to its source storage.
    async fn update(&self, file_id: &str, command: u8, head: &[u8], data: &[u8]) -> Result<()> {
        let target = self.query_update(file_id).await?;
        self.exchange(
            &addr_of(&target.storages[0]),
            command,
            head,
            &mut Content::Bytes(data),
        )
        .await
        .map(|_| ())
    }

    /// Sends `head` + content and reads a small reply; a stale pooled
    /// connection is replaced once (the server never saw the request).
    async fn exchange(
        &self,
        addr: &str,
        command: u8,
        head: &[u8],
        content: &mut Content<'_>,
    ) -> Result<Vec<u8>> {
        let mut conn = self.pool().get(addr).await?;
        loop {
            let r = self.exchange_on(&mut conn, command, head, content).await;
            match r {
                Ok(reply) => {
                    self.pool().put(conn);
                    return Ok(reply);
                }
                Err(e) if e.status().is_some() => {
                    self.pool().put(conn);
                    return Err(e);
                }
                Err(e) if conn.reused && e.is_stale_connection() => {
                    if let Content::File(f, _) = content {
                        f.rewind().await?;
                    }
                    conn = self.pool().fresh(addr).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn exchange_on(
        &self,
        conn: &mut Conn,
        command: u8,
        head: &[u8],
        content: &mut Content<'_>,
    ) -> Result<Vec<u8>> {
        let header = Header::request(command, head.len() as u64 + content.len());
        let s = &mut conn.stream;
        match content {
            Content::Bytes(b) if b.len() <= INLINE_BODY => {
                let mut buf = Vec::with_capacity(head.len() + b.len());
                buf.extend_from_slice(head);
                buf.extend_from_slice(b);
                io::send(s, header, &buf).await?;
            }
            Content::Bytes(b) => {
                io::send(s, header, head).await?;
                s.write_all(b).await?;
            }
            Content::File(f, len) => {
                io::send(s, header, head).await?;
                let sent = tokio::io::copy(&mut (&mut **f).take(*len), s).await?;
                if sent != *len {
                    return Err(ClientError::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "local file shrank during upload",
                    )));
                }
            }
        }
        let timeout = self.inner.cfg.network_timeout;
        let h = tokio::time::timeout(timeout, io::read_response_header(s, MAX_SMALL_REPLY))
            .await
            .map_err(|_| ClientError::Timeout(format!("reply from {}", conn.addr)))??;
        Ok(io::read_body(s, h.pkg_len).await?)
    }
}
