//! upload / download / delete / append / modify / truncate / regenerate /
//! upload-slave / meta.

use std::path::PathBuf;

use anyhow::Context;
use ferrodfs_client::{MetaFlag, UploadKind};
use tokio::io::AsyncReadExt;

use super::Conn;

#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Upload into this group instead of letting the tracker choose.
    #[arg(short, long)]
    pub group: Option<String>,
    /// Create appender files (they accept append, modify and truncate).
    #[arg(long)]
    pub appender: bool,
    /// Extension for stdin uploads (`-`).
    #[arg(long, default_value = "")]
    pub ext: String,
    /// Files to upload; `-` reads stdin.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub async fn upload(a: UploadArgs) -> anyhow::Result<()> {
    let client = a.conn.client()?;
    let kind = if a.appender {
        UploadKind::Appender
    } else {
        UploadKind::Normal
    };
    for f in &a.files {
        let id = if f.as_os_str() == "-" {
            let mut data = Vec::new();
            tokio::io::stdin().read_to_end(&mut data).await?;
            client.upload(&data, &a.ext, a.group.as_deref(), kind).await
        } else {
            client.upload_file(f, a.group.as_deref(), kind).await
        }
        .with_context(|| format!("upload {}", f.display()))?;
        println!("{id}");
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub conn: Conn,
    pub file_id: String,
    /// Where to write; default is the file's name in the current directory, `-` is stdout.
    pub dest: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
    /// Bytes to read (0 = to the end).
    #[arg(long, default_value_t = 0)]
    pub length: u64,
}

pub async fn download(a: DownloadArgs) -> anyhow::Result<()> {
    let client = a.conn.client()?;
    let what = format!("download {}", a.file_id);
    if a.dest.as_deref().is_some_and(|d| d.as_os_str() == "-") {
        let mut out = tokio::io::stdout();
        client
            .download_to(&a.file_id, a.offset, a.length, &mut out)
            .await
            .context(what)?;
        return Ok(());
    }
    let dest = a.dest.clone().unwrap_or_else(|| default_dest(&a.file_id));
    download_to_path(&client, &a.file_id, &dest, a.offset, a.length)
        .await
        .context(what)?;
    eprintln!("saved {}", dest.display());
    Ok(())
}

/// FastDFS's download tool names the local file after the ID's last part.
pub fn default_dest(file_id: &str) -> PathBuf {
    PathBuf::from(file_id.rsplit('/').next().unwrap_or(file_id))
}

/// Writes to a temporary name and renames, so a failed download leaves
/// no truncated file under the final name.
pub async fn download_to_path(
    client: &ferrodfs_client::Client,
    file_id: &str,
    dest: &std::path::Path,
    offset: u64,
    length: u64,
) -> anyhow::Result<u64> {
    let tmp = dest.with_file_name(format!(
        ".{}.part",
        dest.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let mut f = tokio::fs::File::create(&tmp)
        .await
        .with_context(|| format!("create {}", tmp.display()))?;
    let r = client.download_to(file_id, offset, length, &mut f).await;
    match r {
        Ok(n) => {
            tokio::io::AsyncWriteExt::flush(&mut f).await?;
            drop(f);
            tokio::fs::rename(&tmp, dest).await?;
            Ok(n)
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e.into())
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[arg(required = true)]
    pub file_ids: Vec<String>,
}

pub async fn delete(a: DeleteArgs) -> anyhow::Result<()> {
    let client = a.conn.client()?;
    for id in &a.file_ids {
        client
            .delete(id)
            .await
            .with_context(|| format!("delete {id}"))?;
        eprintln!("deleted {id}");
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct AppendArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// An appender file's ID.
    pub file_id: String,
    /// Local file whose content is appended (`-` = stdin).
    pub file: PathBuf,
}

async fn read_input(p: &PathBuf) -> anyhow::Result<Vec<u8>> {
    if p.as_os_str() == "-" {
        let mut v = Vec::new();
        tokio::io::stdin().read_to_end(&mut v).await?;
        Ok(v)
    } else {
        tokio::fs::read(p)
            .await
            .with_context(|| format!("read {}", p.display()))
    }
}

pub async fn append(a: AppendArgs) -> anyhow::Result<()> {
    let client = a.conn.client()?;
    let data = read_input(&a.file).await?;
    client
        .append(&a.file_id, &data)
        .await
        .with_context(|| format!("append to {}", a.file_id))?;
    eprintln!("appended {} bytes to {}", data.len(), a.file_id);
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ModifyArgs {
    #[command(flatten)]
    pub conn: Conn,
    pub file_id: String,
    pub offset: u64,
    pub file: PathBuf,
}

pub async fn modify(a: ModifyArgs) -> anyhow::Result<()> {
    let client = a.conn.client()?;
    let data = read_input(&a.file).await?;
    client
        .modify(&a.file_id, a.offset, &data)
        .await
        .with_context(|| format!("modify {}", a.file_id))?;
    eprintln!(
        "wrote {} bytes at offset {} of {}",
        data.len(),
        a.offset,
        a.file_id
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct TruncateArgs {
    #[command(flatten)]
    pub conn: Conn,
    pub file_id: String,
    #[arg(default_value_t = 0)]
    pub size: u64,
}

pub async fn truncate(a: TruncateArgs) -> anyhow::Result<()> {
    let client = a.conn.client()?;
    client
        .truncate(&a.file_id, a.size)
        .await
        .with_context(|| format!("truncate {}", a.file_id))?;
    eprintln!("truncated {} to {} bytes", a.file_id, a.size);
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct RegenerateArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// An appender file's ID.
    pub file_id: String,
}

/// Prints the new ID; the appender file becomes a normal file.
pub async fn regenerate(a: RegenerateArgs) -> anyhow::Result<()> {
    let client = a.conn.client()?;
    let id = client
        .regenerate_appender_filename(&a.file_id)
        .await
        .with_context(|| format!("regenerate {}", a.file_id))?;
    println!("{id}");
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct SlaveArgs {
    #[command(flatten)]
    pub conn: Conn,
    pub master_id: String,
    /// Inserted before the extension, e.g. `_150x150`.
    pub prefix: String,
    pub file: PathBuf,
}

pub async fn upload_slave(a: SlaveArgs) -> anyhow::Result<()> {
    let client = a.conn.client()?;
    let data = read_input(&a.file).await?;
    let ext = ferrodfs_proto::fields::ext_of(&a.file.to_string_lossy());
    let id = client
        .upload_slave(&a.master_id, &a.prefix, &ext, &data)
        .await
        .with_context(|| format!("upload slave of {}", a.master_id))?;
    println!("{id}");
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct MetaArgs {
    #[command(flatten)]
    pub conn: Conn,
    pub file_id: String,
    /// `name=value` pairs to set; with none, the metadata is printed.
    pub items: Vec<String>,
    /// Merge into the existing metadata instead of replacing it.
    #[arg(long)]
    pub merge: bool,
}

pub async fn meta(a: MetaArgs) -> anyhow::Result<()> {
    let client = a.conn.client()?;
    if a.items.is_empty() {
        let items = client
            .get_meta(&a.file_id)
            .await
            .with_context(|| format!("get metadata of {}", a.file_id))?;
        for (k, v) in items {
            println!(
                "{}={}",
                String::from_utf8_lossy(&k),
                String::from_utf8_lossy(&v)
            );
        }
        return Ok(());
    }
    let items = parse_items(&a.items)?;
    let flag = if a.merge {
        MetaFlag::Merge
    } else {
        MetaFlag::Overwrite
    };
    client
        .set_meta(&a.file_id, &items, flag)
        .await
        .with_context(|| format!("set metadata of {}", a.file_id))?;
    eprintln!(
        "metadata {} ({} items)",
        if a.merge { "merged" } else { "set" },
        items.len()
    );
    Ok(())
}

pub fn parse_items(items: &[String]) -> anyhow::Result<ferrodfs_client::Meta> {
    items
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| anyhow::anyhow!("metadata item {s:?}: expected name=value"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_destination_is_the_id_basename() {
        assert_eq!(
            default_dest("group1/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz"),
            PathBuf::from("wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz")
        );
    }

    #[test]
    fn metadata_items_need_a_name() {
        assert!(parse_items(&["=x".into()]).is_err());
        assert!(parse_items(&["novalue".into()]).is_err());
        let m = parse_items(&["width=1024".into(), "tag=a=b".into()]).unwrap();
        assert_eq!(m[1], (b"tag".to_vec(), b"a=b".to_vec()));
    }
}
