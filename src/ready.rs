//! What a started server tells the program that started it: a JSON object
//! naming its endpoint, media address and key (`--ready-file`, and the last
//! line on stdout), written only once the server answers requests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The ready announcement.
#[derive(Serialize)]
pub struct Ready {
    /// Base URL of the API, as clients should use it.
    pub endpoint: String,
    /// `ip:port` of the media (UDP) endpoint, as announced to clients.
    pub media_address: String,
    pub access_key_id: String,
    pub account_id: String,
    /// Only when this run generated the key pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
}

impl Ready {
    /// One line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain strings always serialize")
    }
}

/// A written ready file; removed when dropped (at exit), so that a file left
/// in place never announces a server that has stopped.
pub struct ReadyFile {
    path: PathBuf,
}

impl Drop for ReadyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes a ready file left by an earlier run, so that nobody reads it as ours.
pub fn clear(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!(
            "cannot remove the old ready file {}: {e}",
            path.display()
        )),
    }
}

/// Writes `json` and a newline to `path` atomically: into a private (0600)
/// temporary file beside it, flushed to disk, then renamed over `path`. A
/// reader sees either no file or the whole object.
pub fn write(path: &Path, json: &str) -> Result<ReadyFile, String> {
    use std::io::Write;
    let name = path
        .file_name()
        .ok_or_else(|| format!("--ready-file {} names no file", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = opts
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(json.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "cannot write the ready file {}: {e}",
            path.display()
        ));
    }
    Ok(ReadyFile {
        path: path.to_path_buf(),
    })
}

/// Waits until the server bound at `bound` answers an HTTP request (any
/// status): then clients can use it.
pub async fn wait_until_answering(bound: SocketAddr) -> Result<(), String> {
    let mut addr = bound;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let mut last = String::new();
    for _ in 0..200 {
        match tokio::time::timeout(Duration::from_secs(5), probe(addr)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "no answer within 5 s".into(),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(format!(
        "the server at {addr} does not answer requests: {last}"
    ))
}

async fn probe(addr: SocketAddr) -> std::io::Result<()> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut head = [0u8; 9];
    s.read_exact(&mut head).await?;
    if &head == b"HTTP/1.1 " {
        Ok(())
    } else {
        Err(std::io::Error::other("not an HTTP/1.1 answer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_holds_the_secret_only_when_given() {
        let mut r = Ready {
            endpoint: "http://127.0.0.1:1".into(),
            media_address: "127.0.0.1:2".into(),
            access_key_id: "AKID".into(),
            account_id: "123456789012".into(),
            secret_access_key: None,
        };
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"endpoint": "http://127.0.0.1:1", "media_address": "127.0.0.1:2",
                "access_key_id": "AKID", "account_id": "123456789012"})
        );
        r.secret_access_key = Some("s".into());
        assert!(!r.to_json().contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["secret_access_key"], "s");
    }

    #[test]
    fn written_whole_private_replaced_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready.json");
        std::fs::write(&path, "old").unwrap();
        clear(&path).unwrap();
        assert!(!path.exists());
        clear(&path).unwrap();
        std::fs::write(&path, "old").unwrap();
        let f = write(&path, "{\"a\":1}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file is left"
        );
        drop(f);
        assert!(!path.exists(), "removed at exit");
        assert!(write(&dir.path().join("no/such/dir/r.json"), "{}").is_err());
    }
}
