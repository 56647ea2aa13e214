//! The web console (`/ui`), in a real headless Chromium driven through
//! chromedriver (fantoccini), against a daemon syncing the Notion and
//! Airtable simulators; and its security rules over plain HTTP.
//!
//! Needs Debian's `chromium` and `chromium-driver`: without chromedriver the
//! browser test fails, saying so. Screenshots of every page are written to
//! `target/console-screenshots/`; with `SYNCHOST_WRITE_SCREENSHOTS=1` also
//! to `docs/console/`, which the README shows.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::{blocking, free_port, Daemon};
use common::World;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on loopback, killed (by its pid) when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .chain([
                PathBuf::from("/usr/bin"),
                PathBuf::from("/usr/lib/chromium"),
            ])
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn chromedriver() -> Driver {
    let program = find_program(&["chromedriver"]).unwrap_or_else(|| {
        panic!(
            "chromedriver was not found: the console's browser tests need a headless Chromium. \
             Install Debian's `chromium chromium-driver` (apt-get install -y chromium chromium-driver)"
        )
    });
    let port = free_port();
    let child = Command::new(program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < WAIT, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn browser(driver: &Driver) -> Client {
    let chromium = find_program(&["chromium", "chromium-browser"]).unwrap_or_else(|| {
        panic!("chromium was not found: install Debian's `chromium chromium-driver`")
    });
    // fantoccini's TLS (unused on loopback) needs a crypto provider chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900"],
        }),
    );
    ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session from chromedriver")
}

/// Saves a screenshot of the page as `target/console-screenshots/NAME.png`
/// (and `docs/console/NAME.png` when `SYNCHOST_WRITE_SCREENSHOTS` is set).
async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("console-screenshots");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("docs/console");
    let write_docs = std::env::var_os("SYNCHOST_WRITE_SCREENSHOTS").is_some();
    for dir in std::iter::once(target).chain(write_docs.then_some(docs)) {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    }
}

async fn wait_for(c: &Client, xpath: &str) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(xpath))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            let page = c.source().await.unwrap_or_default();
            panic!("{xpath} did not appear ({e}); the page:\n{page}")
        }
    }
}

/// The daemon with the world's two-way job (manual conflicts), a pair
/// parked by a same-field conflict, and a job of another project.
fn daemon_with_conflict(w: &World) -> (Daemon, String) {
    let d = Daemon::start(&w.dir.join("daemon"), 2);
    let id = w.job["sync_id"].as_str().unwrap().to_string();
    assert_eq!(d.post("/jobs", &w.job).0, 201);
    let mut other = w.job.clone();
    other["sync_id"] = json!("other-project-job");
    other["project_id"] = json!("pf-other");
    assert_eq!(d.post("/jobs", &other).0, 201);
    w.add_notion("Original", "bob@example.com", "Todo", 1.0);
    assert_eq!(d.post(&format!("/jobs/{id}/trigger"), &json!({})).0, 202);
    d.wait_for_run(&id, &["success"], WAIT);
    w.tick();
    w.notion
        .update_page(
            &w.notion_id("bob@example.com"),
            json!({"Name": {"title": [{"text": {"content": "From Notion"}}]}}),
        )
        .unwrap();
    w.tick();
    w.airtable
        .update(
            &w.base,
            "Tasks",
            &w.airtable_id("bob@example.com"),
            json!({"Name": "From Airtable"}),
        )
        .unwrap();
    assert_eq!(d.post(&format!("/jobs/{id}/trigger"), &json!({})).0, 202);
    let started = Instant::now();
    loop {
        let conflicts = d.get("/conflicts");
        if let Some(c) = conflicts.as_array().and_then(|a| a.first()) {
            return (d, c["id"].as_str().unwrap().to_string());
        }
        assert!(started.elapsed() < WAIT, "no conflict parked");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn project_token(d: &Daemon, project: &str) -> String {
    let data = d.data.to_str().unwrap().to_string();
    let (code, out, err) =
        common::synchost(&["token", "create", "--project", project, "--data", &data]);
    assert_eq!(code, 0, "{err}");
    out.trim().to_string()
}

async fn log_in(c: &Client, url: &str, token: &str) {
    c.goto(&format!("{url}/ui/login")).await.unwrap();
    let field = wait_for(c, "//input[@name='token']").await;
    field.send_keys(token).await.unwrap();
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "//h1[text()='Jobs']").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_browser() {
    let driver = chromedriver();
    let w = World::new("console", "manual").await;
    let (d, conflict) = tokio::task::block_in_place(|| daemon_with_conflict(&w));
    let id = w.job["sync_id"].as_str().unwrap().to_string();
    let c = browser(&driver).await;

    // Log in with the admin token.
    c.goto(&format!("{}/", d.url)).await.unwrap();
    wait_for(&c, "//input[@name='token']").await;
    screenshot(&c, "login").await;
    log_in(&c, &d.url, d.token.trim()).await;
    let jobs = c.source().await.unwrap();
    assert!(
        jobs.contains(&id) && jobs.contains("other-project-job"),
        "{jobs}"
    );
    screenshot(&c, "jobs").await;

    // A preview of the job, from its row's button: a new task to copy.
    w.tick();
    w.add_notion("Write the console docs", "carol@example.com", "Doing", 3.0);
    w.tick();
    c.find(Locator::XPath(&format!(
        "//tr[@data-job='{id}']//button[text()='Preview']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let plan = wait_for(&c, "//div[@class='plan']").await;
    let text = plan.text().await.unwrap();
    assert!(text.contains("Nothing was written"), "{text}");
    screenshot(&c, "preview").await;

    // The runs, with a chart per job.
    c.goto(&format!("{}/ui/runs", d.url)).await.unwrap();
    wait_for(
        &c,
        &format!("//figure[@data-job='{id}']//*[local-name()='svg']"),
    )
    .await;
    assert!(
        c.find_all(Locator::Css("table#runs tbody tr"))
            .await
            .unwrap()
            .len()
            >= 2
    );
    c.find(Locator::Css("table#runs details summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let report = wait_for(&c, "//table[@id='runs']//details[@open]").await;
    assert!(report.text().await.unwrap().contains("writes:"));
    screenshot(&c, "runs").await;

    // The parked conflict: take the target's value, then run.
    c.goto(&format!("{}/ui/conflicts", d.url)).await.unwrap();
    wait_for(&c, "//table[@id='conflicts']").await;
    screenshot(&c, "conflicts").await;
    c.find(Locator::LinkText(&conflict))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let row = wait_for(&c, "//table[@id='fields']//tr[td[1]='Name']").await;
    let row = row.text().await.unwrap();
    assert!(
        row.contains("From Notion") && row.contains("From Airtable"),
        "{row}"
    );
    screenshot(&c, "conflict").await;
    c.find(Locator::XPath("//button[text()='Take target']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &c,
        "//p[@class='notice' and contains(., 'Decided: take target')]",
    )
    .await;
    c.find(Locator::XPath("//button[text()='Run now']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "//p[@class='notice' and contains(., 'queued')]").await;
    let started = Instant::now();
    loop {
        let notion = w.notion_rows()["bob@example.com"].0.clone();
        let airtable = w.airtable_rows()["bob@example.com"].0.clone();
        if (notion.as_str(), airtable.as_str()) == ("From Airtable", "From Airtable") {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the decision was not applied: Notion {notion:?}, Airtable {airtable:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let conflicts = blocking({
        let (url, token) = (d.url.clone(), d.token.clone());
        move || api_get(&url, &token, "/conflicts")
    })
    .await;
    assert_eq!(conflicts, json!([]), "the decided conflict is gone");

    // A broken connector is refused, with its reason.
    let broken = w.dir.join("broken.wasm");
    std::fs::write(&broken, b"not wasm").unwrap();
    c.goto(&format!("{}/ui/connectors", d.url)).await.unwrap();
    wait_for(&c, "//table[@id='connectors']").await;
    c.find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys("notion")
        .await
        .unwrap();
    c.find(Locator::Css("input[type=file]"))
        .await
        .unwrap()
        .send_keys(broken.to_str().unwrap())
        .await
        .unwrap();
    c.find(Locator::XPath("//button[text()='Upload']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let rejected = wait_for(&c, "//p[@id='rejected']")
        .await
        .text()
        .await
        .unwrap();
    assert!(rejected.contains("not a WebAssembly file"), "{rejected}");
    assert!(
        rejected.contains("previous version keeps serving"),
        "{rejected}"
    );
    screenshot(&c, "connectors").await;

    // The audit log, newest first, with the console's decision in it.
    c.goto(&format!("{}/ui/audit", d.url)).await.unwrap();
    let audit = wait_for(&c, "//table[@id='audit']")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        audit.contains("conflict_resolved") && audit.contains("\"by\":\"admin\""),
        "{audit}"
    );
    screenshot(&c, "audit").await;

    // On a phone.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{}/ui/", d.url)).await.unwrap();
    wait_for(&c, "//table[@id='jobs']").await;
    screenshot(&c, "jobs-phone").await;
    c.set_window_size(1280, 900).await.unwrap();

    // A project's token sees its project only.
    c.find(Locator::XPath("//button[text()='Log out']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "//input[@name='token']").await;
    let other = tokio::task::block_in_place(|| project_token(&d, "pf-other"));
    log_in(&c, &d.url, &other).await;
    let jobs = c.source().await.unwrap();
    assert!(jobs.contains("other-project-job"), "{jobs}");
    assert!(!jobs.contains(&id), "another project's job shows: {jobs}");
    screenshot(&c, "project-jobs").await;
    c.goto(&format!("{}/ui/jobs/{id}", d.url)).await.unwrap();
    wait_for(
        &c,
        &format!("//p[@class='error' and contains(., 'no job {id}')]"),
    )
    .await;

    c.close().await.unwrap();
    drop(driver);
}

fn api_get(url: &str, token: &str, path: &str) -> Value {
    Daemon::client()
        .get(format!("{url}{path}"))
        .bearer_auth(token.trim())
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Plain HTTP, without a browser: how a session is made, kept and checked.
mod http {
    use super::*;
    use reqwest::header::COOKIE;

    use common::console::{hidden_csrf, http, log_in_as, set_cookie};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sessions_cookies_csrf_and_scopes() {
        let w = World::new("console-http", "manual").await;
        let (d, conflict) = tokio::task::block_in_place(|| daemon_with_conflict(&w));
        let id = w.job["sync_id"].as_str().unwrap().to_string();
        let url = d.url.clone();
        let admin = d.token.trim().to_string();
        let other = tokio::task::block_in_place(|| project_token(&d, "pf-other"));
        blocking(move || {
            // The login form's cookie: HttpOnly, SameSite=Strict, /ui only.
            let page = http().get(format!("{url}/ui/login")).send().unwrap();
            let (login, header) = set_cookie(&page, "synchost_login").unwrap();
            for rule in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
                assert!(header.contains(rule), "{header}");
            }
            let csrf = hidden_csrf(&page.text().unwrap());
            assert_eq!(csrf, login);
            // A wrong token does not log in.
            let resp = http()
                .post(format!("{url}/ui/login"))
                .header(COOKIE, format!("synchost_login={login}"))
                .form(&[("csrf", csrf.as_str()), ("token", "not-a-token")])
                .send()
                .unwrap();
            assert_eq!(resp.status(), 401);
            assert!(set_cookie(&resp, "synchost_session").is_none());
            assert!(resp.text().unwrap().contains("not one of this daemon"));
            // The right token without the login form's CSRF token: 403.
            let resp = http()
                .post(format!("{url}/ui/login"))
                .form(&[("token", admin.as_str())])
                .send()
                .unwrap();
            assert_eq!(resp.status(), 403);

            // A session: a random id in an HttpOnly, SameSite=Strict cookie, never the token.
            let resp = http()
                .post(format!("{url}/ui/login"))
                .header(COOKIE, format!("synchost_login={login}"))
                .form(&[("csrf", csrf.as_str()), ("token", admin.as_str())])
                .send()
                .unwrap();
            assert_eq!(resp.status(), 303);
            let (session, header) = set_cookie(&resp, "synchost_session").unwrap();
            for rule in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
                assert!(header.contains(rule), "{header}");
            }
            assert!(!header.contains(&admin), "the token is not in the cookie");
            let cookie = format!("synchost_session={session}");
            let page = http()
                .get(format!("{url}/ui/"))
                .header(COOKIE, &cookie)
                .send()
                .unwrap();
            assert_eq!(page.status(), 200);
            let csrf = hidden_csrf(&page.text().unwrap());

            // A POST without the CSRF token, or with another: 403, nothing queued.
            let run = format!("{url}/ui/jobs/{id}/run");
            let resp = http().post(&run).header(COOKIE, &cookie).send().unwrap();
            assert_eq!(resp.status(), 403);
            let resp = http()
                .post(&run)
                .header(COOKIE, &cookie)
                .form(&[("csrf", "0".repeat(64))])
                .send()
                .unwrap();
            assert_eq!(resp.status(), 403);
            let resp = http()
                .post(&run)
                .header(COOKIE, &cookie)
                .header("x-csrf-token", "nope")
                .send()
                .unwrap();
            assert_eq!(resp.status(), 403);
            let resolve = format!("{url}/ui/conflicts/{conflict}/resolve");
            let resp = http()
                .post(&resolve)
                .header(COOKIE, &cookie)
                .form(&[("take", "target")])
                .send()
                .unwrap();
            assert_eq!(resp.status(), 403);
            // With it (as a form field, or as htmx's header): done.
            let resp = http()
                .post(&run)
                .header(COOKIE, &cookie)
                .form(&[("csrf", csrf.as_str())])
                .send()
                .unwrap();
            assert_eq!(resp.status(), 303);
            let resp = http()
                .post(&run)
                .header(COOKIE, &cookie)
                .header("x-csrf-token", &csrf)
                .send()
                .unwrap();
            assert_eq!(resp.status(), 303);
            // A merge, field by field: the target's Name (fields in name
            // order: Email, Name, Points, Status), audited with who decided.
            let resp = http()
                .post(&resolve)
                .header(COOKIE, &cookie)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("take", "merge"),
                    ("pick_1", "target"),
                ])
                .send()
                .unwrap();
            assert_eq!(resp.status(), 303);
            let audit = api_get(&url, &admin, "/audit");
            let decided = audit
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["kind"] == "conflict_resolved")
                .expect("the decision is audited");
            assert_eq!(decided["detail"]["by"], "admin", "{decided}");
            let merge = &decided["detail"]["resolution"]["merge"];
            assert_eq!(merge["Name"]["value"], "From Airtable", "{decided}");
            assert_eq!(merge["Email"]["value"], "bob@example.com", "{decided}");
            // No session: to the login page; a POST does nothing.
            let resp = http().get(format!("{url}/ui/conflicts")).send().unwrap();
            assert_eq!(resp.status(), 303);
            assert_eq!(resp.headers()["location"], "/ui/login");

            // Another project's session: 404 for this job and its conflict.
            let theirs = format!("synchost_session={}", log_in_as(&url, &other));
            for path in [
                format!("/ui/jobs/{id}"),
                format!("/ui/conflicts/{conflict}"),
                format!("/ui/runs?job={id}"),
            ] {
                let resp = http()
                    .get(format!("{url}{path}"))
                    .header(COOKIE, &theirs)
                    .send()
                    .unwrap();
                assert_eq!(resp.status(), 404, "{path}");
            }
            let list = http()
                .get(format!("{url}/ui/conflicts"))
                .header(COOKIE, &theirs)
                .send()
                .unwrap()
                .text()
                .unwrap();
            assert!(
                !list.contains(&format!("/ui/conflicts/{conflict}\"")),
                "{list}"
            );
            // And it cannot upload connectors.
            let page = http()
                .get(format!("{url}/ui/connectors"))
                .header(COOKIE, &theirs)
                .send()
                .unwrap()
                .text()
                .unwrap();
            assert!(page.contains("Only the admin token uploads connectors"));

            // Logging out ends the session.
            let resp = http()
                .post(format!("{url}/ui/logout"))
                .header(COOKIE, &cookie)
                .form(&[("csrf", csrf.as_str())])
                .send()
                .unwrap();
            assert_eq!(resp.status(), 303);
            let resp = http()
                .get(format!("{url}/ui/"))
                .header(COOKIE, &cookie)
                .send()
                .unwrap();
            assert_eq!(resp.status(), 303, "the session is over");
        })
        .await;
        drop(d);
    }

    /// A first sync waiting for its plan: shown on the job's page, and
    /// "Accept plan" lets the run go ahead.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_first_plan_is_shown_and_accepted() {
        let w = World::new("console-accept", "newest_wins").await;
        w.seed_notion("a", 0..2);
        let mut job = w.job.clone();
        job["first_sync"] = serde_json::json!("plan");
        let data = w.dir.join("daemon");
        let airtable = w.airtable.clone();
        blocking(move || {
            let d = Daemon::start(&data, 2);
            assert_eq!(d.post("/jobs", &job).0, 201);
            let id = "sync-console-accept";
            assert_eq!(
                d.post(&format!("/jobs/{id}/trigger"), &serde_json::json!({}))
                    .0,
                202
            );
            let started = std::time::Instant::now();
            while d.get(&format!("/jobs/{id}"))["last_status"] != "awaiting_plan" {
                assert!(started.elapsed() < WAIT, "not parked");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let cookie = format!("synchost_session={}", log_in_as(&d.url, &d.token));
            let page = http()
                .get(format!("{}/ui/jobs/{id}", d.url))
                .header(COOKIE, &cookie)
                .send()
                .unwrap()
                .text()
                .unwrap();
            assert!(page.contains("Accept plan"), "{page}");
            assert!(page.contains("2 create(s)"), "{page}");
            assert_eq!(airtable.records(&w.base, "Tasks").len(), 0);
            let csrf = hidden_csrf(&page);
            let resp = http()
                .post(format!("{}/ui/jobs/{id}/plan/accept", d.url))
                .header(COOKIE, &cookie)
                .form(&[("csrf", csrf.as_str())])
                .send()
                .unwrap();
            assert_eq!(resp.status(), 303);
            let run = d.wait_for_run(id, &["success"], std::time::Duration::from_secs(20));
            assert_eq!(run["report"]["synced_items"], 2);
        })
        .await;
    }
}
