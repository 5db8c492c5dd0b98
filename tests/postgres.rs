//! Generated backends on a real PostgreSQL: a throwaway cluster of
//! Debian's `postgresql` (initdb and pg_ctl in a temporary directory, a
//! loopback port), a database per project, and the project's own pytest
//! suite run against it through `DATABASE_URL` — the suite creates its
//! tables there, and its migration tests apply the Alembic migration to a
//! schema of their own.
//!
//! Needs Debian's `postgresql` (`scripts/test` installs it).

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::project::{generate, pytest, python, run};

/// A PostgreSQL cluster in a temporary directory, stopped when dropped.
struct Cluster {
    bin: PathBuf,
    data: tempfile::TempDir,
    port: u16,
}

/// The directory of Debian's PostgreSQL programs (the newest installed).
fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.flatten()
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("the PostgreSQL tests need Debian's postgresql (apt-get install -y postgresql)")
    })
}

/// Runs a PostgreSQL program: as the `postgres` user when this process is
/// root (PostgreSQL refuses to run as root).
fn pg(bin: &Path, program: &str) -> Command {
    let root = run(Command::new("id").arg("-u")).trim() == "0";
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

impl Cluster {
    fn start() -> Cluster {
        let bin = pg_bin();
        let data = tempfile::TempDir::new().unwrap();
        if run(Command::new("id").arg("-u")).trim() == "0" {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(data.path()));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = data.path().join("cluster");
        run(pg(&bin, "initdb")
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "-D",
            ])
            .arg(&dir));
        run(pg(&bin, "pg_ctl")
            .arg("-D")
            .arg(&dir)
            .arg("-o")
            .arg(format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {}",
                data.path().display()
            ))
            .arg("-l")
            .arg(data.path().join("log"))
            .args(["-w", "start"]));
        Cluster { bin, data, port }
    }

    /// A new empty database; its SQLAlchemy URL.
    fn database(&self, name: &str) -> String {
        run(pg(&self.bin, "createdb")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(self.port.to_string())
            .arg(name));
        format!(
            "postgresql+psycopg://postgres@127.0.0.1:{}/{name}",
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = pg(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.data.path().join("cluster"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// Generates `description`; its backend's suite passes on a database of
/// its own; the migration builds the tables the models describe.
fn passes_on_postgres(cluster: &Cluster, name: &str, description: &str) {
    let dir = tempfile::TempDir::new().unwrap();
    let record = generate(dir.path(), description, &[]);
    let project = dir.path().join("project");
    let url = cluster.database(name);
    let passed = pytest(&project, Some(&url));
    let entities = record["spec"]["entities"].as_array().unwrap().len();
    assert!(passed as usize > 9 * entities, "{name}: {passed} tests");
    // The migration on a fresh database: every table is there, and nothing
    // differs from the models.
    let fresh = cluster.database(&format!("{name}_migrated"));
    let backend = project.join("backend");
    run(Command::new(python(&project))
        .args(["-m", "alembic", "upgrade", "head"])
        .current_dir(&backend)
        .env("DATABASE_URL", &fresh));
    let check = run(Command::new(python(&project))
        .args(["-m", "alembic", "check"])
        .current_dir(&backend)
        .env("DATABASE_URL", &fresh));
    assert!(
        check.contains("No new upgrade operations detected"),
        "{check}"
    );
    for e in record["spec"]["entities"].as_array().unwrap() {
        let table = e["plural"].as_str().unwrap();
        let count = run(pg(&cluster.bin, "psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-At", "-p"])
            .arg(cluster.port.to_string())
            .args(["-d", &format!("{name}_migrated"), "-c"])
            .arg(format!("select count(*) from {table}")));
        assert_eq!(count.trim(), "0", "{name}: table {table}");
    }
}

/// The three apps of the browser tests (login, choices and ranges, two
/// levels of relations), on one cluster.
#[test]
fn generated_backends_pass_their_tests_on_postgresql() {
    let cluster = Cluster::start();
    passes_on_postgres(
        &cluster,
        "blog",
        "a blog with posts, comments and users; each comment has a rating from 1 to 5",
    );
    passes_on_postgres(
        &cluster,
        "plants",
        "a plant nursery shop where customers buy plants; each plant has a price, a stock count and a light requirement of low, medium or high",
    );
    passes_on_postgres(
        &cluster,
        "hotel",
        "a hotel booking system: hotels have rooms with a nightly rate, guests make bookings with check-in and check-out dates",
    );
}
