//! A fake tracker answering just what the edge polls: list all groups (91)
//! and list storages (92), from a picture the test edits while it runs; in
//! the legacy layout, whose records carry each storage's HTTP port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ferrodfs_proto::fields::{get_fixed, IpWidth};
use ferrodfs_proto::stat::{GroupStat, Layout, StorageStat};
use ferrodfs_proto::{cmd, io};

pub type Picture = Arc<Mutex<Vec<(GroupStat, Vec<StorageStat>)>>>;

pub fn group(name: &str, storages: &[(SocketAddr, u8)]) -> (GroupStat, Vec<StorageStat>) {
    let stats = storages
        .iter()
        .map(|(a, status)| StorageStat {
            status: *status,
            id: a.ip().to_string(),
            ip: a.ip().to_string(),
            storage_http_port: a.port() as i64,
            ..Default::default()
        })
        .collect::<Vec<_>>();
    (
        GroupStat {
            name: name.into(),
            storage_count: stats.len() as i64,
            ..Default::default()
        },
        stats,
    )
}

pub async fn start(addr: SocketAddr, picture: Picture) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let picture = picture.clone();
            tokio::spawn(async move {
                while let Ok(Some(h)) = io::read_header(&mut s, 1 << 20).await {
                    let Ok(body) = io::read_body(&mut s, h.pkg_len).await else {
                        return;
                    };
                    let mut out = Vec::new();
                    let pic = picture.lock().unwrap().clone();
                    match h.cmd {
                        cmd::LIST_ALL_GROUPS => pic
                            .iter()
                            .for_each(|(g, _)| g.encode(Layout::Legacy, &mut out)),
                        cmd::LIST_STORAGE => {
                            let name = get_fixed(&body[..16.min(body.len())]);
                            for (g, ss) in &pic {
                                if g.name == name {
                                    ss.iter().for_each(|s| {
                                        s.encode(Layout::Legacy, IpWidth::V4, &mut out)
                                    });
                                }
                            }
                        }
                        _ => {
                            let _ = io::send_error(&mut s, 22).await;
                            continue;
                        }
                    }
                    if io::send_ok(&mut s, &out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}
