//! `bench`: a load generator speaking the FastDFS protocol, so the same
//! load can be pointed at ferrodfs and at FastDFS itself and compared.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrodfs_client::{Client, UploadKind};
use rand::{Rng, RngCore, SeedableRng};
use serde::Serialize;

use super::Conn;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Upload,
    Download,
    Delete,
    Mixed,
    /// A new connection to the first tracker per op, answered ACTIVE_TEST.
    Connect,
    /// The same with the cluster handshake first (needs the secret).
    AuthConnect,
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[arg(long, value_enum, default_value = "upload")]
    pub op: Op,
    /// File size, e.g. 4K, 64K, 1M.
    #[arg(long, default_value = "4K", value_parser = super::parse_size)]
    pub size: u64,
    /// Parallel clients.
    #[arg(short = 'j', long, default_value_t = 16)]
    pub concurrency: usize,
    /// Operations to run (ignored when --duration is given).
    #[arg(short = 'n', long, default_value_t = 10_000)]
    pub count: u64,
    /// Run for this many seconds instead of a count.
    #[arg(short, long)]
    pub duration: Option<f64>,
    /// Upload into this group.
    #[arg(short, long)]
    pub group: Option<String>,
    /// Files prepared before a download or mixed run.
    #[arg(long, default_value_t = 256)]
    pub files: u64,
    /// Mixed workload weights upload:download:delete.
    #[arg(long, default_value = "2:7:1")]
    pub mix: String,
    /// Leave the uploaded files in place instead of deleting them afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Report {
    pub op: Op,
    pub size: u64,
    pub concurrency: usize,
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub mb_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub first_error: Option<String>,
}

/// Latency percentile (nearest rank) over sorted microsecond samples.
pub fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
}

pub fn parse_mix(s: &str) -> anyhow::Result<[u32; 3]> {
    let parts: Vec<u32> = s
        .split(':')
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("--mix {s:?}: expected three numbers like 2:7:1"))?;
    match parts.as_slice() {
        [u, d, x] if u + d + x > 0 => Ok([*u, *d, *x]),
        _ => anyhow::bail!("--mix {s:?}: expected three numbers like 2:7:1, not all zero"),
    }
}

/// The files a run may read or delete. A file being downloaded is not
/// handed to a delete, so a mixed run never reads a file it deleted itself.
#[derive(Default)]
struct Pool {
    ids: Vec<String>,
    reading: std::collections::HashMap<String, u32>,
}

impl Pool {
    fn push(&mut self, id: String) {
        self.ids.push(id);
    }

    /// A random file, marked as being read until [`Pool::done_reading`].
    fn read_one(&mut self, rng: &mut impl Rng) -> Option<String> {
        if self.ids.is_empty() {
            return None;
        }
        let id = self.ids[rng.gen_range(0..self.ids.len())].clone();
        *self.reading.entry(id.clone()).or_default() += 1;
        Some(id)
    }

    fn done_reading(&mut self, id: &str) {
        if let Some(n) = self.reading.get_mut(id) {
            *n -= 1;
            if *n == 0 {
                self.reading.remove(id);
            }
        }
    }

    /// The newest file nobody is reading, taken out of the pool.
    fn take_for_delete(&mut self) -> Option<String> {
        let i = self
            .ids
            .iter()
            .rposition(|id| !self.reading.contains_key(id))?;
        Some(self.ids.swap_remove(i))
    }
}

struct Shared {
    client: Client,
    data: Vec<u8>,
    group: Option<String>,
    /// Files available for download and delete.
    pool: Mutex<Pool>,
    /// Files created by this run and not deleted.
    created: Mutex<Vec<String>>,
    started: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn error(&self, e: impl std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut f = self.first_error.lock().unwrap();
        if f.is_none() {
            *f = Some(e.to_string());
        }
    }
}

pub async fn run(a: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.concurrency > 0, "--concurrency must be at least 1");
    let mix = parse_mix(&a.mix)?;
    let client = a.conn.client()?;
    let mut data = vec![0u8; a.size as usize];
    rand::rngs::StdRng::from_entropy().fill_bytes(&mut data);
    let shared = Arc::new(Shared {
        client,
        data,
        group: a.group.clone(),
        pool: Mutex::new(Pool::default()),
        created: Mutex::new(Vec::new()),
        started: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
    });

    let prepare = match a.op {
        Op::Upload | Op::Connect | Op::AuthConnect => 0,
        Op::Download | Op::Mixed => a.files.max(1),
        Op::Delete => a.count,
    };
    if prepare > 0 {
        eprintln!("preparing {prepare} files of {} bytes...", a.size);
        prepare_files(&shared, prepare, a.concurrency).await?;
    }

    let deadline = a
        .duration
        .map(|d| Instant::now() + Duration::from_secs_f64(d));
    let limit = if deadline.is_some() {
        u64::MAX
    } else {
        a.count
    };
    let bar = progress(deadline.is_none().then_some(a.count), a.json);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..a.concurrency {
        let s = shared.clone();
        let bar = bar.clone();
        let op = a.op;
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64 ^ 0x5eed);
            let mut lat = Vec::new();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                if s.started.fetch_add(1, Ordering::Relaxed) >= limit {
                    break;
                }
                let this = match op {
                    Op::Mixed => pick(&mut rng, mix),
                    other => other,
                };
                let t = Instant::now();
                if one_op(&s, this, &mut rng).await {
                    lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
                bar.inc(1);
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    let secs = t0.elapsed().as_secs_f64();
    bar.finish_and_clear();
    lat.sort_unstable();
    let report = Report {
        op: a.op,
        size: a.size,
        concurrency: a.concurrency,
        ops: lat.len() as u64,
        errors: shared.errors.load(Ordering::Relaxed),
        seconds: secs,
        ops_per_sec: lat.len() as f64 / secs,
        mb_per_sec: shared.bytes.load(Ordering::Relaxed) as f64 / secs / 1e6,
        p50_ms: percentile(&lat, 50.0),
        p99_ms: percentile(&lat, 99.0),
        max_ms: lat.last().map(|&m| m as f64 / 1000.0).unwrap_or(0.0),
        first_error: shared.first_error.lock().unwrap().clone(),
    };

    if !a.keep {
        cleanup(&shared, a.concurrency).await;
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn pick(rng: &mut impl Rng, mix: [u32; 3]) -> Op {
    let r = rng.gen_range(0..mix.iter().sum::<u32>());
    if r < mix[0] {
        Op::Upload
    } else if r < mix[0] + mix[1] {
        Op::Download
    } else {
        Op::Delete
    }
}

/// Runs one operation; returns whether it succeeded.
async fn one_op(s: &Shared, op: Op, rng: &mut impl Rng) -> bool {
    let r: Result<u64, String> = match op {
        Op::Connect | Op::AuthConnect => {
            let tracker = &s.client.config().trackers[0];
            s.client
                .connect_and_test(tracker, op == Op::AuthConnect)
                .await
                .map(|_| 0)
                .map_err(|e| e.to_string())
        }
        Op::Upload => match s
            .client
            .upload(&s.data, "bin", s.group.as_deref(), UploadKind::Normal)
            .await
        {
            Ok(id) => {
                s.created.lock().unwrap().push(id.clone());
                s.pool.lock().unwrap().push(id);
                Ok(s.data.len() as u64)
            }
            Err(e) => Err(e.to_string()),
        },
        Op::Download => {
            let id = s.pool.lock().unwrap().read_one(rng);
            match id {
                None => Err("no file left to download".into()),
                Some(id) => {
                    let r = match s.client.download(&id, 0, 0).await {
                        Ok(d) if d.len() == s.data.len() => Ok(d.len() as u64),
                        Ok(d) => Err(format!(
                            "{id}: got {} bytes, expected {}",
                            d.len(),
                            s.data.len()
                        )),
                        Err(e) => Err(e.to_string()),
                    };
                    s.pool.lock().unwrap().done_reading(&id);
                    r
                }
            }
        }
        Op::Delete => {
            let id = s.pool.lock().unwrap().take_for_delete();
            match id {
                None => Err("no file left to delete".into()),
                Some(id) => match s.client.delete(&id).await {
                    Ok(()) => {
                        s.created.lock().unwrap().retain(|c| c != &id);
                        Ok(0)
                    }
                    Err(e) => Err(e.to_string()),
                },
            }
        }
        Op::Mixed => unreachable!("mixed is resolved to one operation per request"),
    };
    match r {
        Ok(b) => {
            s.bytes.fetch_add(b, Ordering::Relaxed);
            true
        }
        Err(e) => {
            s.error(e);
            false
        }
    }
}

async fn prepare_files(s: &Arc<Shared>, n: u64, concurrency: usize) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (s, next) = (s.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let id = s
                    .client
                    .upload(&s.data, "bin", s.group.as_deref(), UploadKind::Normal)
                    .await?;
                s.created.lock().unwrap().push(id.clone());
                s.pool.lock().unwrap().push(id);
            }
            Ok::<_, ferrodfs_client::ClientError>(())
        }));
    }
    for t in tasks {
        t.await?
            .map_err(|e| anyhow::anyhow!("preparing files: {e}"))?;
    }
    Ok(())
}

async fn cleanup(s: &Arc<Shared>, concurrency: usize) {
    let ids: Vec<String> = std::mem::take(&mut *s.created.lock().unwrap());
    let ids = Arc::new(Mutex::new(ids));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (s, ids) = (s.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let id = ids.lock().unwrap().pop();
                let Some(id) = id else { break };
                if let Err(e) = s.client.delete(&id).await {
                    tracing::debug!("cleanup of {id}: {e}");
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

fn progress(len: Option<u64>, hidden: bool) -> indicatif::ProgressBar {
    if hidden {
        return indicatif::ProgressBar::hidden();
    }
    match len {
        Some(n) => indicatif::ProgressBar::new(n).with_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}")
                .expect("static template"),
        ),
        None => indicatif::ProgressBar::new_spinner().with_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} ops {per_sec} {elapsed}")
                .expect("static template"),
        ),
    }
}

fn print_table(r: &Report) {
    println!("op           {:?}", r.op);
    println!("file size    {} bytes", r.size);
    println!("concurrency  {}", r.concurrency);
    println!("ops          {} in {:.2} s", r.ops, r.seconds);
    println!("errors       {}", r.errors);
    println!("ops/s        {:.0}", r.ops_per_sec);
    println!("MB/s         {:.1}", r.mb_per_sec);
    println!(
        "latency ms   p50 {:.2}  p99 {:.2}  max {:.2}",
        r.p50_ms, r.p99_ms, r.max_ms
    );
    if let Some(e) = &r.first_error {
        println!("first error  {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn mix_needs_three_weights() {
        assert_eq!(parse_mix("2:7:1").unwrap(), [2, 7, 1]);
        assert!(parse_mix("1:1").is_err());
        assert!(parse_mix("0:0:0").is_err());
        assert!(parse_mix("a:b:c").is_err());
    }

    #[test]
    fn a_file_being_downloaded_is_never_handed_to_a_delete() {
        let mut p = Pool::default();
        p.push("a".into());
        p.push("b".into());
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let reading = p.read_one(&mut rng).unwrap();
        let deleted = p.take_for_delete().unwrap();
        assert_ne!(deleted, reading);
        assert_eq!(p.take_for_delete(), None, "the other one is being read");
        p.done_reading(&reading);
        assert_eq!(p.take_for_delete(), Some(reading));
    }

    #[test]
    fn mixed_picks_follow_the_weights() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut n = [0u32; 3];
        for _ in 0..10_000 {
            match pick(&mut rng, [1, 0, 1]) {
                Op::Upload => n[0] += 1,
                Op::Download => n[1] += 1,
                _ => n[2] += 1,
            }
        }
        assert_eq!(n[1], 0);
        assert!(n[0] > 4000 && n[2] > 4000, "{n:?}");
    }
}
