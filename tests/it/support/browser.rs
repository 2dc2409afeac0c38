//! A real headless Chromium, driven through chromedriver's W3C WebDriver HTTP API with
//! reqwest: no browser-automation crate, just the half-dozen endpoints the tests use.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; `.ci/run` installs them). Without them [`Browser::start`] prints
//! a notice and returns `None` so the test can skip, except under CI (`CI` set), where a
//! missing browser fails the test instead: CI must not pass by skipping.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// W3C's key for an element reference in WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One chromedriver process with one browser session; both end on drop.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    driver: Child,
}

impl Browser {
    /// Starts chromedriver and a headless browser session, or says why not and returns
    /// `None` (panics instead when `CI` is set).
    pub async fn start() -> Option<Browser> {
        let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
            .into_iter()
            .filter(|path| !Path::new(path).exists())
            .collect();
        if !missing.is_empty() {
            let notice = format!(
                "skipped: {} missing; install chromium and chromium-driver (apt-get install chromium chromium-driver) or run .ci/run",
                missing.join(" and ")
            );
            assert!(std::env::var_os("CI").is_none(), "CI is set, so: {notice}");
            eprintln!("NOTICE: {notice}");
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            http,
            session: String::new(),
            driver,
        };
        browser.wait_until_ready(&base).await;
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1280,900",
            // This machine's network is closed; stop Chromium trying to reach Google.
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ];
        let created = browser
            .call(
                reqwest::Method::POST,
                &format!("{base}/session"),
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
                    // Keeps the console, where Chromium reports Content Security Policy
                    // violations, for [`Browser::console`].
                    "goog:loggingPrefs": {"browser": "ALL"},
                }}})),
            )
            .await;
        let id = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a session id in {created}"));
        browser.session = format!("{base}/session/{id}");
        Some(browser)
    }

    async fn wait_until_ready(&self, base: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = self.http.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready {
                let status: Value = response.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver ready within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One WebDriver command; panics on a WebDriver error, with its message.
    async fn call(&self, method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
        self.try_call(method, url, body)
            .await
            .unwrap_or_else(|error| panic!("WebDriver {url} failed: {error}"))
    }

    /// One WebDriver command: its `value`, or the WebDriver error (`{"error", "message"}`).
    async fn try_call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("chromedriver answers");
        let status = response.status();
        let answer: Value = response.json().await.expect("WebDriver answers JSON");
        if status.is_success() {
            Ok(answer["value"].clone())
        } else {
            Err(answer["value"].clone())
        }
    }

    /// Runs `script` in the page with `args`; its return value. Reading through a script
    /// is atomic, so the page's refreshes (which replace the panels) cannot race it.
    async fn execute(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        self.call(reqwest::Method::POST, &url, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.session);
        self.call(reqwest::Method::GET, &url, None).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn current_url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        let count = self
            .execute(
                "return document.querySelectorAll(arguments[0]).length;",
                json!([css]),
            )
            .await;
        count.as_u64().unwrap_or(0) as usize
    }

    /// The rendered text of the first element matching `css`, if any.
    pub async fn text(&self, css: &str) -> Option<String> {
        let text = self
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                json!([css]),
            )
            .await;
        text.as_str().map(str::to_owned)
    }

    /// Waits until the first element matching `css` shows `wanted`; returns its text.
    pub async fn wait_for_text(&self, css: &str, wanted: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text(css).await;
            if let Some(text) = text.as_ref().filter(|t| t.contains(wanted)) {
                return text.clone();
            }
            if Instant::now() >= deadline {
                let page = self.get("/source").await;
                panic!(
                    "{css} shows {wanted:?} within {timeout:?}; it shows {text:?}; the page: {page}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until no element matches `css`.
    pub async fn wait_for_none(&self, css: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count(css).await > 0 {
            assert!(Instant::now() < deadline, "{css} gone within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the first element matching `css` like a user (a WebDriver click: scrolled into
    /// view, hit-tested). A refresh may replace the element between finding and clicking it;
    /// then it is found again.
    pub async fn click(&self, css: &str) {
        for _ in 0..5 {
            let found = self
                .post("/element", json!({"using": "css selector", "value": css}))
                .await;
            let element = found[ELEMENT_KEY]
                .as_str()
                .unwrap_or_else(|| panic!("an element matches {css}: {found}"))
                .to_owned();
            let url = format!("{}/element/{element}/click", self.session);
            match self
                .try_call(reqwest::Method::POST, &url, Some(json!({})))
                .await
            {
                Ok(_) => return,
                Err(error) if error["error"] == "stale element reference" => continue,
                Err(error) => panic!("clicking {css} failed: {error}"),
            }
        }
        panic!("{css} kept being replaced while clicked");
    }

    /// The browser console's messages since the last call (chromedriver's log endpoint),
    /// or `None` when this chromedriver cannot read it.
    pub async fn console(&self) -> Option<Vec<String>> {
        let url = format!("{}/se/log", self.session);
        let entries = self
            .try_call(
                reqwest::Method::POST,
                &url,
                Some(json!({"type": "browser"})),
            )
            .await
            .ok()?;
        let messages = entries
            .as_array()?
            .iter()
            .filter_map(|entry| entry["message"].as_str().map(str::to_owned))
            .collect();
        Some(messages)
    }

    /// Starts recording the page's `securitypolicyviolation` events, for
    /// [`Browser::recorded_violations`]; they last until the next navigation.
    pub async fn record_violations(&self) {
        self.execute(
            "window.__violations = []; document.addEventListener('securitypolicyviolation', function (e) { window.__violations.push(e.violatedDirective + ' blocked ' + e.blockedURI); }); return true;",
            json!([]),
        )
        .await;
    }

    /// The violations recorded since [`Browser::record_violations`].
    pub async fn recorded_violations(&self) -> Vec<String> {
        let found = self
            .execute("return window.__violations || null;", json!([]))
            .await;
        found
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Saves a PNG of the window to `path` (creating its folder).
    pub async fn screenshot(&self, path: &Path) {
        let encoded = self.get("/screenshot").await;
        let png = STANDARD
            .decode(encoded.as_str().expect("a base64 screenshot"))
            .expect("the screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).expect("create the artefact folder");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Killing chromedriver would orphan Chromium, so end the session first. Drop cannot
        // await, and a panicking test drops too: one blocking request, by hand.
        if let Some(rest) = self.session.strip_prefix("http://")
            && let Some((host, path)) = rest.split_once('/')
        {
            delete_blocking(host, &format!("/{path}"));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where tests put files worth keeping: `<target dir>/test-artifacts/` (the target dir is
/// `CARGO_TARGET_DIR` when set, else `./target`; found from Cargo's `CARGO_TARGET_TMPDIR`,
/// which is `<target dir>/tmp`).
pub fn artefact_path(name: &str) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .unwrap_or(tmp)
        .join("test-artifacts")
        .join(name)
}

/// `DELETE path` on `host`, waiting (a little) for the answer.
fn delete_blocking(host: &str, path: &str) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("bound address").port()
}
