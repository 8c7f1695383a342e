//! Running the real `tollgate` binary, and a browser, from tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod gateway;
pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A `tollgate serve` process on a free port; killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    /// Every line the process logged so far.
    log: Arc<Mutex<Vec<String>>>,
    /// The data directory when the test gave none (emails are written there), removed last.
    _data: Option<TempDir>,
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
        // Without a data directory of its own the process would write its emails (the file
        // transport) under the crate's `./data`.
        let data = (!args.contains(&"--data-dir")).then(|| TempDir::new("data"));
        if let Some(data) = &data {
            cmd.env("TOLLGATE_DATA_DIR", data.path());
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start tollgate");
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[tollgate] {line}");
                kept.lock().unwrap().push(line.clone());
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
        Self {
            child,
            base,
            log,
            _data: data,
        }
    }

    /// The link of the newest email of `kind` to `to`, from the log line the file transport
    /// writes for each email; waits up to 30 s for the email worker.
    pub fn emailed_link(&self, kind: &str, to: &str) -> String {
        emailed_link(&[self], kind, to)
    }

    /// Follows the email verification link sent to `to` at sign-up, as the new user would
    /// (creating keys and buying credits need it).
    pub async fn verify_email(&self, to: &str) {
        verify_email(&[self], to).await;
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

/// `Server::emailed_link` for processes sharing one database: any of them may send it.
pub fn emailed_link(servers: &[&Server], kind: &str, to: &str) -> String {
    let started = Instant::now();
    loop {
        for server in servers {
            let found = server.log.lock().unwrap().iter().rev().find_map(|line| {
                let fields = line.split_once("email written to the outbox directory")?.1;
                // `link` is logged with Debug formatting, in quotes.
                let field = |name: &str| {
                    fields
                        .split_whitespace()
                        .find_map(|f| f.strip_prefix(&format!("{name}=")[..]))
                        .map(|v| v.trim_matches('"'))
                };
                (field("kind") == Some(kind) && field("to") == Some(to))
                    .then(|| field("link").map(str::to_owned))
                    .flatten()
            });
            if let Some(link) = found {
                return link;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no {kind} email to {to} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `Server::verify_email` for processes sharing one database.
pub async fn verify_email(servers: &[&Server], to: &str) {
    let link = emailed_link(servers, "email_verification", to);
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&link)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers().get("location").map(|l| l.to_str().unwrap()),
        Some("/account?notice=email_verified"),
        "following {link}"
    );
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
