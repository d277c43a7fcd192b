//! A small W3C WebDriver client for the browser tests: headless Chromium driven through
//! `chromedriver` (Debian's `chromium` and `chromium-driver` packages), over plain HTTP.

use std::{path::Path, process::Stdio, time::Duration};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    _driver: Child,
}

/// Where chromedriver and chromium are, or what to install.
fn binaries() -> (String, String) {
    let find = |names: &[&str]| {
        names
            .iter()
            .find(|path| Path::new(path).exists())
            .map(|p| p.to_string())
    };
    let driver = std::env::var("CHROMEDRIVER")
        .ok()
        .or_else(|| find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]));
    let chromium = std::env::var("CHROMIUM")
        .ok()
        .or_else(|| find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]));
    match (driver, chromium) {
        (Some(driver), Some(chromium)) => (driver, chromium),
        _ => panic!(
            "the browser tests need Chromium and its driver: apt-get install chromium chromium-driver \
             (or set CHROMEDRIVER and CHROMIUM)"
        ),
    }
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless window of `width`×`height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        Self::start_with(width, height, &[]).await
    }

    /// As [`Browser::start`], with more Chromium command-line `flags`.
    pub async fn start_with(width: u32, height: u32, flags: &[&str]) -> Browser {
        let (driver_path, chromium) = binaries();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-gpu".to_owned(),
            format!("--window-size={width},{height}"),
        ];
        args.extend(flags.iter().map(|f| f.to_string()));
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args }
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Browser {
            http,
            base,
            session,
            _driver: driver,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"]["error"].is_string() {
            panic!("webdriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Waits until `selector` matches (at most `limit`), and returns the element's id.
    pub async fn find(&self, selector: &str, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let found = self
                .eval(
                    "return document.querySelector(arguments[0]) !== null",
                    vec![json!(selector)],
                )
                .await;
            if found == json!(true) {
                let element = self
                    .call(
                        reqwest::Method::POST,
                        "/element",
                        Some(json!({ "using": "css selector", "value": selector })),
                    )
                    .await;
                return element[ELEMENT].as_str().unwrap().to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nothing matched {selector} within {limit:?}; the page says: {}",
                self.text("body").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, selector: &str) {
        let element = self.find(selector, Duration::from_secs(10)).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Replaces the value of the field `selector` with `text`, as typed.
    pub async fn fill(&self, selector: &str, text: &str) {
        let element = self.find(selector, Duration::from_secs(10)).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Picks the option `value` of the select `selector` (and tells the page it changed).
    pub async fn select(&self, selector: &str, value: &str) {
        self.find(selector, Duration::from_secs(10)).await;
        self.eval(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1];
             s.dispatchEvent(new Event('change', { bubbles: true }));",
            vec![json!(selector), json!(value)],
        )
        .await;
    }

    /// The text of the first element matching `selector` (empty when none).
    pub async fn text(&self, selector: &str) -> String {
        self.eval(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''",
            vec![json!(selector)],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Waits until the text of `selector` contains `expected`.
    pub async fn wait_for_text(&self, selector: &str, expected: &str, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let text = self.text(selector).await;
            if text.contains(expected) {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{selector} never said {expected:?}; it says {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Saves a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let encoded = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    pub async fn close(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}
