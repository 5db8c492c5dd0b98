//! Generated apps in a real browser: the backend under uvicorn and the
//! frontend's production build under `vite preview` on loopback ports,
//! driven in Debian's Chromium through Playwright (`tests/browser/drive.py`)
//! as a person would use them. Screenshots land in `target/browser/<app>/`.
//!
//! The service's dashboard is driven the same way (`tests/browser/dashboard.py`):
//! sign in, generate, follow the project to done, open a file.
//!
//! Needs `/usr/bin/chromium` (Debian's `chromium`; `scripts/test` installs it).

mod support;

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::project::{generate, node_modules, python, run, shared};

const CHROMIUM: &str = "/usr/bin/chromium";
/// The Playwright the browser tests drive Chromium with.
const PLAYWRIGHT: &str = "1.65.2";

/// A server process, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `http://127.0.0.1:port{path}` answers 200.
fn wait_for(port: u16, path: &str, server: &mut Server) {
    let started = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
            let mut head = [0u8; 16];
            if s.read(&mut head).is_ok_and(|n| n >= 12)
                && head.starts_with(b"HTTP/1.")
                && &head[9..12] == b"200"
            {
                return;
            }
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("the server on port {port} exited ({status})");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing answered on port {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The Python that has Playwright (which drives the system Chromium; it
/// downloads no browser). Built once, by one test at a time: the tests run
/// in parallel.
fn playwright_python() -> PathBuf {
    shared(&format!("playwright-{PLAYWRIGHT}"), |dir| {
        run(Command::new("python3").args(["-m", "venv"]).arg(dir));
        run(Command::new(dir.join("bin/python")).args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            &format!("playwright=={PLAYWRIGHT}"),
        ]));
    })
    .join("bin/python")
}

/// The frontend's view of the spec (labels, display fields, references):
/// the `ENTITIES` table of `src/spec.ts`.
fn frontend_spec(project: &Path, auth: bool) -> Value {
    let text = std::fs::read_to_string(project.join("frontend/src/spec.ts")).unwrap();
    let start = text.find("ENTITIES: EntityMeta[] = ").unwrap() + "ENTITIES: EntityMeta[] = ".len();
    let end = text[start..].find(";\n").unwrap() + start;
    json!({ "auth": auth, "entities": serde_json::from_str::<Value>(&text[start..end]).unwrap() })
}

/// Generates `description`, serves it, and drives it in Chromium: log in
/// when it has auth, create a `parent` and a `child` row through the forms,
/// edit the child, refuse an out-of-range `ranged` value.
fn drive(name: &str, description: &str, parent: &str, child: &str, ranged: (&str, &str)) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser tests need Debian's chromium at {CHROMIUM} (apt-get install -y chromium)"
    );
    let dir = tempfile::TempDir::new().unwrap();
    let record = generate(dir.path(), description, &[]);
    let project = dir.path().join("project");
    let auth = record["spec"]["auth"].as_bool().unwrap();

    // The backend on a fresh SQLite file.
    let api_port = free_port();
    let mut api = Server(
        Command::new(python(&project))
            .args(["-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port"])
            .arg(api_port.to_string())
            .current_dir(project.join("backend"))
            .env(
                "DATABASE_URL",
                format!("sqlite:///{}", dir.path().join("app.db").display()),
            )
            .env("SECRET_KEY", "a-secret-for-the-browser-test")
            .env("PASSWORD_ROUNDS", "1000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(api_port, "/api/health", &mut api);

    // The frontend's production build, proxying /api to the backend.
    node_modules(&project);
    let frontend = project.join("frontend");
    run(Command::new("npm")
        .args(["run", "build"])
        .current_dir(&frontend));
    let web_port = free_port();
    let mut web = Server(
        Command::new(frontend.join("node_modules/.bin/vite"))
            .args(["preview", "--host", "127.0.0.1", "--strictPort", "--port"])
            .arg(web_port.to_string())
            .current_dir(&frontend)
            .env("VITE_PROXY_TARGET", format!("http://127.0.0.1:{api_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(web_port, "/", &mut web);

    let out = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/browser")
        .join(name);
    let _ = std::fs::remove_dir_all(&out);
    let plan = json!({
        "base": format!("http://127.0.0.1:{web_port}"),
        "chromium": CHROMIUM,
        "spec": frontend_spec(&project, auth),
        "out": out,
        "parent": parent,
        "child": child,
        "ranged": {"plural": ranged.0, "field": ranged.1},
    });
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/drive.py");
    let report = run(Command::new(playwright_python())
        .arg(script)
        .arg(&plan_path));
    assert!(report.contains("ok:"), "{report}");
    for shot in [
        format!("{parent}-list.png"),
        format!("{child}-form.png"),
        format!("{child}-list.png"),
        format!("{}-invalid.png", ranged.0),
    ] {
        let size = std::fs::metadata(out.join(&shot)).map_or(0, |m| m.len());
        assert!(size > 10_000, "{shot}: {size} bytes");
    }
    drop(web);
    drop(api);
}

#[test]
fn an_app_with_login_works_in_a_browser() {
    drive(
        "blog",
        "a blog with posts, comments and users; each comment has a rating from 1 to 5",
        "posts",
        "comments",
        ("comments", "rating"),
    );
}

#[test]
fn an_app_with_choices_and_ranges_works_in_a_browser() {
    drive(
        "plant-shop",
        "a plant nursery shop where customers buy plants; each plant has a price, a stock count and a light requirement of low, medium or high",
        "customers",
        "orders",
        ("plants", "stock_count"),
    );
}

#[test]
fn an_app_with_two_levels_of_relations_works_in_a_browser() {
    drive(
        "hotel",
        "a hotel booking system: hotels have rooms with a nightly rate, guests make bookings with check-in and check-out dates",
        "hotels",
        "rooms",
        ("hotels", "stars"),
    );
}

#[test]
fn the_dashboard_signs_in_generates_follows_a_project_to_done_and_opens_its_files() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser tests need Debian's chromium at {CHROMIUM} (apt-get install -y chromium)"
    );
    let dir = tempfile::TempDir::new().unwrap();
    let token = support::service::tenant(dir.path(), "acme", 2);
    let server = support::service::Server::start(dir.path());
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser/dashboard");
    let _ = std::fs::remove_dir_all(&shots);
    let plan = json!({
        "url": format!("{}/", server.base),
        "tenant": "acme",
        "token": token,
        "description": "a helpdesk with tickets and agents",
        "expect_in_file": "class Ticket",
        "chromium": CHROMIUM,
        "screenshots": shots,
    });
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/dashboard.py");
    let report = run(Command::new(playwright_python())
        .arg(script)
        .arg(&plan_path));
    assert!(report.contains("ok:"), "{report}");
    for shot in ["running.png", "dashboard.png"] {
        let bytes = std::fs::read(shots.join(shot)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{shot}");
    }
    drop(server);
}
