//! Idle connections kept per server address. A connection goes back to
//! the pool only after a complete, successful exchange, so a pooled
//! connection is never mid-message.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::{ClientError, Result};

/// Idle connections kept per address; more are closed on return.
const MAX_IDLE: usize = 64;

pub struct Pool {
    idle: Mutex<HashMap<String, Vec<TcpStream>>>,
    connect_timeout: Duration,
}

/// A checked-out connection; `reused` tells whether it came from the pool
/// (and so may have been closed by the server meanwhile).
pub struct Conn {
    pub stream: TcpStream,
    pub addr: String,
    pub reused: bool,
}

impl Pool {
    pub fn new(connect_timeout: Duration) -> Self {
        Pool {
            idle: Mutex::new(HashMap::new()),
            connect_timeout,
        }
    }

    pub async fn get(&self, addr: &str) -> Result<Conn> {
        if let Some(stream) = self.idle.lock().unwrap().get_mut(addr).and_then(Vec::pop) {
            return Ok(Conn {
                stream,
                addr: addr.to_string(),
                reused: true,
            });
        }
        self.fresh(addr).await
    }

    pub async fn fresh(&self, addr: &str) -> Result<Conn> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout(format!("connect to {addr}")))?
            .map_err(|err| ClientError::Connect {
                addr: addr.to_string(),
                err,
            })?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            addr: addr.to_string(),
            reused: false,
        })
    }

    pub fn put(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap();
        let list = idle.entry(conn.addr).or_default();
        if list.len() < MAX_IDLE {
            list.push(conn.stream);
        }
    }
}
