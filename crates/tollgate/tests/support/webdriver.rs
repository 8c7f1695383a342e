//! A small W3C WebDriver client over HTTP, driving Debian's headless Chromium through
//! `chromedriver`. Just the commands the browser tests use.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium driven through its own `chromedriver`. Dropping it — also while a test
/// panics — ends the WebDriver session, stops chromedriver and every process of the browser,
/// and removes the profile directory.
pub struct Browser {
    driver: Child,
    port: u16,
    base: String,
    session: String,
    http: reqwest::Client,
    profile: super::TempDir,
}

/// The profile directories of the browser tests start with this; `scripts/test` adds a tag of its
/// run (`TOLLGATE_TEST_BROWSER_TAG`) so that it can find what its own run left behind.
pub fn profile_label() -> String {
    match std::env::var("TOLLGATE_TEST_BROWSER_TAG") {
        Ok(tag) if !tag.is_empty() => format!("chromium-profile-{tag}"),
        _ => "chromium-profile".to_owned(),
    }
}

/// Process ids whose command line mentions `needle` (a profile directory: every Chromium
/// process, and chromedriver through its log path, carries it).
pub fn processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned().into_bytes();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if cmdline
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
            {
                found.push(pid);
            }
        }
    }
    found
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session. Fails the test when
    /// either is missing: the browser tests are never silently skipped.
    pub async fn start() -> Self {
        for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: install Debian's chromium and chromium-driver (scripts/test-deps does)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let profile = super::TempDir::new(&profile_label());
        // Its own process group, which the browser it starts joins: `Drop` can end them all even
        // when chromedriver dies first. The log path puts the profile in its command line.
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                profile.path().join("chromedriver.log").display()
            ))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await {
                if let Ok(v) = r.json::<Value>().await {
                    if v["value"]["ready"] == json!(true) {
                        break;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_owned();
        Self {
            driver,
            port,
            base,
            session,
            http,
            profile,
        }
    }

    /// The browser's profile directory (removed when the browser is dropped).
    pub fn profile_dir(&self) -> PathBuf {
        self.profile.path().to_owned()
    }

    /// One blocking HTTP request to chromedriver (`Drop` cannot await); errors are ignored
    /// because the steps after it end the processes anyway.
    fn blocking_request(&self, method: &str, path: &str) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return;
        }
        // Read the whole answer (chromedriver acts once it has sent it) but no more: it may keep
        // the connection open despite `Connection: close`.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if answer.len() >= end + 4 + length {
                    return;
                }
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req
            .send()
            .await
            .expect("webdriver request")
            .json()
            .await
            .unwrap();
        if v["value"]["error"].is_string() {
            return Err(v["value"].clone());
        }
        Ok(v["value"].clone())
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        match self.try_command(method, path, body).await {
            Ok(v) => v,
            Err(e) => panic!("WebDriver {path}: {}", e["message"]),
        }
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Resizes the window; 390 × 844 is a phone held upright.
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Whether the page is wider than the window (it would scroll sideways).
    pub async fn overflows_horizontally(&self) -> bool {
        self.execute(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            vec![],
        )
        .await
            == json!(true)
    }

    /// Reloads the page, as F5 does (a page that answered a POST would be posted again).
    pub async fn refresh(&self) {
        self.command(reqwest::Method::POST, "/refresh", Some(json!({})))
            .await;
    }

    /// The browser's Back button.
    pub async fn back(&self) {
        self.command(reqwest::Method::POST, "/back", Some(json!({})))
            .await;
    }

    pub async fn current_url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Finds an element by CSS selector, waiting up to 5 s for it to appear.
    pub async fn find(&self, css: &str) -> Element<'_> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let v: Value = self
                .http
                .post(url)
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = v["value"][ELEMENT_KEY].as_str() {
                return Element {
                    browser: self,
                    id: id.to_owned(),
                };
            }
            assert!(
                Instant::now() < deadline,
                "no element matches {css:?} on {}",
                self.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many elements match a CSS selector right now.
    pub async fn count(&self, css: &str) -> usize {
        let v = self
            .command(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array().map_or(0, Vec::len)
    }

    /// The visible text of the whole page (empty while a navigation is under way).
    pub async fn page_text(&self) -> String {
        let script =
            json!({"script": "return document.body ? document.body.innerText : '';", "args": []});
        match self
            .try_command(reqwest::Method::POST, "/execute/sync", Some(script))
            .await
        {
            Ok(v) => v.as_str().unwrap_or("").to_owned(),
            Err(_) => String::new(),
        }
    }

    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Sizes the window so that the page's viewport (`innerWidth` × `innerHeight`) is
    /// `width` × `height` CSS pixels, as on a phone or a desktop screen.
    pub async fn set_viewport(&self, width: i64, height: i64) {
        let (mut w, mut h) = (width, height);
        for _ in 0..3 {
            self.command(
                reqwest::Method::POST,
                "/window/rect",
                Some(json!({"width": w, "height": h})),
            )
            .await;
            let inner = self
                .execute("return [window.innerWidth, window.innerHeight];", vec![])
                .await;
            let (iw, ih) = (inner[0].as_i64().unwrap(), inner[1].as_i64().unwrap());
            if (iw, ih) == (width, height) {
                return;
            }
            (w, h) = (w + width - iw, h + height - ih);
        }
        panic!("the viewport could not be made {width}×{height}");
    }

    /// Lays pages out for `media` (`"print"`, or `""` for the screen again), as printing or
    /// saving as PDF does.
    pub async fn emulate_media(&self, media: &str) {
        self.command(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": media}})),
        )
        .await;
    }

    /// Waits until the page's text contains `needle`.
    pub async fn wait_for_text(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.page_text().await;
            if text.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "page never showed {needle:?}; it shows:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The visible text of the element `css` once it shows some: a dialog fades in from
    /// opacity 0, and WebDriver reports no text for an element that is not yet visible.
    pub async fn shown_text(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.find(css).await.text().await;
            if !text.is_empty() {
                return text;
            }
            assert!(Instant::now() < deadline, "{css} never showed any text");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a screenshot named `name` when `TOLLGATE_TEST_SCREENSHOTS` names a directory
    /// (for people looking at the console; tests never depend on it).
    pub async fn snapshot(&self, name: &str) {
        if let Ok(dir) = std::env::var("TOLLGATE_TEST_SCREENSHOTS") {
            std::fs::create_dir_all(&dir).unwrap();
            self.screenshot(&std::path::Path::new(&dir).join(format!("{name}.png")))
                .await;
        }
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine as _;
        let png = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Politely first: the session's end closes the browser, /shutdown ends chromedriver.
        self.blocking_request("DELETE", &format!("/session/{}", self.session));
        self.blocking_request("GET", "/shutdown");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.driver.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Then whatever is left of the process group, and any straggler that left it.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = processes_mentioning(self.profile.path());
            if left.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                // Not a panic: this may run while a test is already panicking. `scripts/test`
                // fails the run when anything of the browser tests is still alive.
                eprintln!("browser processes still alive after drop: {left:?}");
                break;
            }
            for pid in left {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The profile directory goes with `self.profile`, now that nothing writes to it.
    }
}

pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    pub async fn click(&self) {
        self.browser
            .command(
                reqwest::Method::POST,
                &format!("/element/{}/click", self.id),
                Some(json!({})),
            )
            .await;
    }

    pub async fn clear(&self) {
        self.browser
            .command(
                reqwest::Method::POST,
                &format!("/element/{}/clear", self.id),
                Some(json!({})),
            )
            .await;
    }

    pub async fn type_text(&self, text: &str) {
        self.browser
            .command(
                reqwest::Method::POST,
                &format!("/element/{}/value", self.id),
                Some(json!({"text": text})),
            )
            .await;
    }

    pub async fn text(&self) -> String {
        self.browser
            .command(
                reqwest::Method::GET,
                &format!("/element/{}/text", self.id),
                None,
            )
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub async fn attr(&self, name: &str) -> Option<String> {
        self.browser
            .command(
                reqwest::Method::GET,
                &format!("/element/{}/property/{name}", self.id),
                None,
            )
            .await
            .as_str()
            .map(str::to_owned)
    }
}
