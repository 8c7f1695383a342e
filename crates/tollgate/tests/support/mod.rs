//! Running the real `tollgate` binary, and a browser, from tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod gateway;
pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A `tollgate serve` process on a free port; killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts `tollgate serve --listen 127.0.0.1:0` with `args` and waits for the logged URL.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        cmd.args(args)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("TOLLGATE_DATABASE_URL")
            .env_remove("TOLLGATE_DATA_DIR")
            .env("TOLLGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start tollgate");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[tollgate] {line}");
                if !sent {
                    if let Some(rest) = line.split("open ").nth(1) {
                        let url = rest
                            .split_whitespace()
                            .next()
                            .unwrap_or("")
                            .trim_end_matches('/')
                            .to_owned();
                        let _ = tx.send(url);
                        sent = true;
                    }
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("tollgate did not log its URL within 60 s");
        Self { child, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `kill -9`: the process gets no chance to store or return anything.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id, to send it signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let n: u64 = rand_u64();
        let dir = std::env::temp_dir().join(format!("tollgate-{label}-{n:016x}"));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// Runs the binary to completion; returns (success, stdout, stderr).
pub fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .env_remove("TOLLGATE_DATABASE_URL")
        .env_remove("TOLLGATE_DATA_DIR")
        .output()
        .expect("run tollgate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The invitation links in the `.eml` files written so far to `<data-dir>/outbox/` for `to`,
/// oldest first. Quoted-printable soft line breaks are undone first.
pub fn links_to(data_dir: &Path, to: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("outbox")) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    let mut links = Vec::new();
    for file in files {
        let raw = std::fs::read_to_string(&file).unwrap_or_default();
        let text = raw
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=");
        if !text
            .lines()
            .any(|l| l.to_lowercase().starts_with("to:") && l.contains(to))
        {
            continue;
        }
        if let Some(at) = text.find("/invites/") {
            let token: String = text[at + 9..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect();
            links.push(format!("/invites/{token}"));
        }
    }
    links.dedup();
    links
}

pub async fn wait_for_links(data_dir: &Path, to: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let links = links_to(data_dir, to);
        if links.len() >= count {
            return links;
        }
        assert!(
            Instant::now() < deadline,
            "no invitation email to {to} in the outbox"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
