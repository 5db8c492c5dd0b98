//! Builds every guest agent (the roster in `guest-agents/` and the test
//! agents in `tests/agents/`) for `wasm32-wasip2`, so that a plain
//! `cargo build` or `cargo test` produces the host and its agents together.
//! This crate's one build dependency is small (DEFLATE), so this can run as
//! soon as cargo has a core for it, beside the host's dependencies and the
//! host library, none of which wait for it; only the binary links its output.
//!
//! The roster is embedded into the `nexus` binary, compressed; test agents are only
//! referenced by path. Guests build in their own target directory next to the
//! host's, with the `guest` profile, in one nested cargo invocation.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

struct Guest {
    package: String,
    /// File stem of the built component (`hello_agent`).
    artifact: String,
    /// Agent name (`hello`).
    name: String,
    roster: bool,
}

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());

    // Relative to this package: cargo resolves them against the checkout
    // being built, so checkouts sharing one target directory each rebuild
    // their own guests.
    for watched in [
        "guest-agents",
        "tests/agents",
        "sdk",
        "wit",
        "policies",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed=../{watched}");
    }

    let mut guests = discover(&root.join("guest-agents"), true);
    guests.extend(discover(&root.join("tests/agents"), false));

    ensure_target();

    // `<target>/<profile>/build/<pkg>-<hash>/out` → `<target>/nexus-guests`,
    // shared by every profile so guests build once.
    let guest_target = out_dir
        .ancestors()
        .nth(4)
        .map(|t| t.join("nexus-guests"))
        .unwrap_or_else(|| out_dir.join("guests"));

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--target", TARGET, "--profile", "guest"])
        .arg("--target-dir")
        .arg(&guest_target);
    for g in &guests {
        cmd.args(["-p", &g.package]);
    }
    // The outer build's flags and wrappers (clippy, coverage) are for the
    // host, not for wasm guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not start cargo to build the guest agents: {e}"));
    if !status.success() {
        panic!("building the guest agents for {TARGET} failed (see the errors above)");
    }

    let artifacts = guest_target.join(TARGET).join("guest");
    let mut code = String::new();
    // Statics, not consts: a const is copied into every crate that uses
    // it, and the components are megabytes.
    code.push_str(
        "/// Agents built into this binary: (name, size of the component, component bytes\n/// compressed with raw DEFLATE).\n",
    );
    code.push_str("pub static ROSTER_DEFLATED: &[(&str, usize, &[u8])] = &[\n");
    for g in guests.iter().filter(|g| g.roster) {
        let (size, path) = deflated(
            &artifacts.join(format!("{}.wasm", g.artifact)),
            &out_dir.join(format!("{}.wasm.deflate", g.artifact)),
        );
        writeln!(
            code,
            "    ({:?}, {size}, include_bytes!({:?})),",
            g.name,
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n\n");
    code.push_str("/// Shipped policies of the built-in agents: (agent, policies/<agent>.toml).\n");
    code.push_str("pub static POLICIES: &[(&str, &str)] = &[\n");
    for g in guests.iter().filter(|g| g.roster) {
        let path = root.join("policies").join(format!("{}.toml", g.name));
        if path.exists() {
            // Named from this package's own directory when compiled, so a
            // target directory shared by two checkouts reads each one's
            // policies even when this script did not run again for it.
            writeln!(
                code,
                "    ({:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../policies/{}.toml\"))),",
                g.name, g.name
            )
            .unwrap();
        }
    }
    code.push_str("];\n\n");
    code.push_str("/// Test agents (from `tests/agents/`): (name, path of the built component).\n");
    code.push_str("pub static TEST_AGENTS: &[(&str, &str)] = &[\n");
    for g in guests.iter().filter(|g| !g.roster) {
        let path = artifacts.join(format!("{}.wasm", g.artifact));
        writeln!(
            code,
            "    ({:?}, {:?}),",
            g.name,
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    fs::write(out_dir.join("guests.rs"), code).unwrap();
}

/// Writes `wasm` compressed with raw DEFLATE to `to`: components shrink to
/// about a third, and the binary with them.
fn deflated(wasm: &Path, to: &Path) -> (usize, PathBuf) {
    use std::io::Write as _;
    let bytes = fs::read(wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()));
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&bytes).unwrap();
    fs::write(to, z.finish().unwrap()).unwrap_or_else(|e| panic!("writing {}: {e}", to.display()));
    (bytes.len(), to.to_path_buf())
}

/// Every directory below `dir` whose package is named `<name>-agent` is an
/// agent; other crates there are libraries the agents share.
fn discover(dir: &Path, roster: bool) -> Vec<Guest> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&manifest) else {
            continue;
        };
        let package = text
            .lines()
            .find_map(|l| {
                let l = l.trim();
                l.strip_prefix("name = \"")
                    .and_then(|rest| rest.strip_suffix('"'))
            })
            .unwrap_or_else(|| panic!("{} has no package name", manifest.display()))
            .to_string();
        // Libraries the agents share (a spec, helpers) are not agents.
        let Some(name) = package.strip_suffix("-agent").map(str::to_string) else {
            continue;
        };
        found.push(Guest {
            artifact: package.replace('-', "_"),
            package,
            name,
            roster,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// Makes sure the wasm32-wasip2 standard library is installed: installs it
/// with rustup when it is missing, or stops with the one command that fixes it.
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let installed = || {
        Command::new(&rustc)
            .args(["--print", "target-libdir", "--target", TARGET])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .is_some_and(|dir| dir.join("libstd.rlib").exists() || has_std(&dir))
    };
    if installed() {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !added || !installed() {
        panic!("the {TARGET} target is missing; install it with: rustup target add {TARGET}");
    }
}

fn has_std(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
    })
}
