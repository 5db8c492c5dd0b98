//! A local process shares the project directory with the host and swaps
//! what an agent names while the host works on it: a directory for a link to
//! another directory of the project, a file for a FIFO. Each test runs a real
//! agent against a swapping thread for thousands of operations and asserts
//! that no operation reached past what the agent's grant names, left a
//! temporary file, or hung the host.

mod support;

use nexus::task::{Limit, TaskFailure};
use nexus::workspace::{Usage, Workspace};
use rustix::fs::{CWD, Mode, RenameFlags, mkfifoat, renameat_with};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use support::{Fixture, HOSTILE, within};

/// The hostile agent confined to `w/`: `ro/` is in the project but outside
/// both of its grants. Limits long enough for thousands of host calls.
fn confined(wall_time: &str) -> String {
    HOSTILE
        .replace("read = [\"**\"]", "read = [\"w/**\"]")
        .replace("write = [\"**\"]", "write = [\"w/**\"]")
        .replace("cpu_time = \"300ms\"", "cpu_time = \"10s\"")
        .replace(
            "wall_time = \"2s\"",
            &format!("wall_time = \"{wall_time}\""),
        )
}

/// Exchanges two paths atomically (`renameat2` with `RENAME_EXCHANGE`), over
/// and over, until stopped; leaves them as it found them.
struct Swapper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Swapper {
    fn start(a: PathBuf, b: PathBuf) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stopped.load(Ordering::Relaxed) || swaps % 2 == 1 {
                renameat_with(CWD, &a, CWD, &b, RenameFlags::EXCHANGE).unwrap();
                swaps += 1;
            }
            swaps
        });
        Swapper {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops swapping; returns how many swaps were made.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How often each answer came, from the hostile agent's `loop` task.
async fn tally(f: &Fixture, rounds: u64, ops: Value) -> Result<BTreeMap<String, u64>, TaskFailure> {
    let out = f
        .run("hostile", "loop", json!({"rounds": rounds, "ops": ops}))
        .await?;
    Ok(serde_json::from_str(&out.payload).unwrap())
}

/// Every file and directory under `dir`, links not followed.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        found.push(entry.path());
        if entry.file_type().unwrap().is_dir() {
            found.extend(tree(&entry.path()));
        }
    }
    found
}

fn assert_no_temporary_files(sandbox: &Path) {
    let left: Vec<_> = tree(sandbox)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".nexus-"))
        })
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

#[test]
fn swapping_a_directory_for_a_link_never_lets_writes_removes_or_reads_reach_past_it() {
    within(Duration::from_secs(90), || async {
        let f = Fixture::new();
        f.load("hostile", &confined("30s")).await;
        let sandbox = f.sandbox();
        std::fs::create_dir_all(sandbox.join("w")).unwrap();
        std::fs::create_dir_all(sandbox.join("ro")).unwrap();
        std::fs::write(sandbox.join("w/data.txt"), "agent data").unwrap();
        std::fs::write(sandbox.join("ro/data.txt"), "read-only data").unwrap();
        std::fs::write(sandbox.join("ro/victim.txt"), "read-only victim").unwrap();
        // `w` and the link `w-link -> ro` change places over and over: the
        // agent's `w/...` is now its directory, now `ro/`.
        std::os::unix::fs::symlink("ro", sandbox.join("w-link")).unwrap();
        let swapper = Swapper::start(sandbox.join("w"), sandbox.join("w-link"));
        let answers = tally(
            &f,
            1500,
            json!([
                {"op": "write", "path": "w/victim.txt", "text": "agent"},
                {"op": "remove", "path": "w/victim.txt"},
                {"op": "write", "path": "w/sub/new.txt", "text": "agent"},
                {"op": "remove", "path": "w/sub/new.txt"},
                {"op": "read", "path": "w/data.txt"},
            ]),
        )
        .await
        .unwrap();
        let swaps = swapper.stop();
        eprintln!("{swaps} swaps; answers: {answers:?}");

        let mut ro: Vec<_> = std::fs::read_dir(sandbox.join("ro"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        ro.sort();
        assert_eq!(ro, ["data.txt", "victim.txt"], "nothing was written in ro/");
        assert_eq!(
            std::fs::read_to_string(sandbox.join("ro/data.txt")).unwrap(),
            "read-only data"
        );
        assert_eq!(
            std::fs::read_to_string(sandbox.join("ro/victim.txt")).unwrap(),
            "read-only victim",
            "ro/victim.txt was neither replaced nor removed"
        );
        for answer in answers.keys() {
            assert!(
                !answer.starts_with("read ok") || answer == "read ok agent data",
                "a read returned what is outside the read grant: {answer}"
            );
        }
        assert_no_temporary_files(&sandbox);
        // The quotas count what is there: a fresh count finds what the
        // project counted, and the files and directories planted above.
        let counted = f.project.usage();
        let fresh = Workspace::open(&sandbox).unwrap().usage();
        let planted = Usage {
            bytes: "agent data".len() as u64
                + "read-only data".len() as u64
                + "read-only victim".len() as u64,
            files: 3,
            dirs: 2,
        };
        assert_eq!(
            (fresh.bytes, fresh.files, fresh.dirs),
            (
                counted.bytes + planted.bytes,
                counted.files + planted.files,
                counted.dirs + planted.dirs
            ),
            "counted {counted:?}, found {fresh:?}"
        );
        // The race was run: the agent met the link, and got through too.
        assert!(
            answers.get("read denied").is_some_and(|&n| n > 0),
            "{answers:?}"
        );
        assert!(
            answers.get("write ok").is_some_and(|&n| n > 0),
            "{answers:?}"
        );
        f.still_serves("hostile").await;
    });
}

#[test]
fn swapping_a_file_for_a_fifo_never_hangs_a_read() {
    within(Duration::from_secs(90), || async {
        let f = Fixture::new();
        // A task that waits is ended by the wall-time limit and tried twice
        // more: at most 30 s.
        f.load("hostile", &confined("10s")).await;
        let sandbox = f.sandbox();
        std::fs::create_dir_all(sandbox.join("w")).unwrap();
        std::fs::write(sandbox.join("w/data.txt"), "agent data").unwrap();
        mkfifoat(CWD, sandbox.join("w/fifo"), Mode::from_raw_mode(0o644)).unwrap();
        let swapper = Swapper::start(sandbox.join("w/data.txt"), sandbox.join("w/fifo"));
        let answers = tally(&f, 4000, json!([{"op": "read", "path": "w/data.txt"}])).await;
        let swaps = swapper.stop();
        eprintln!("{swaps} swaps; answers: {answers:?}");
        match answers {
            // The wall-time limit ends a task whatever the host waits on.
            Err(TaskFailure::Limit {
                limit: Limit::WallTime,
                ..
            }) => {}
            Ok(answers) => {
                for answer in answers.keys() {
                    assert!(
                        answer == "read ok agent data" || answer == "read invalid",
                        "{answer}"
                    );
                }
            }
            Err(other) => panic!("{other}"),
        }
        f.still_serves("hostile").await;
    });
}

#[test]
fn fifo_is_refused_without_waiting_for_a_writer() {
    within(Duration::from_secs(60), || async {
        let f = Fixture::new();
        f.load("hostile", HOSTILE).await;
        mkfifoat(CWD, f.sandbox().join("pipe"), Mode::from_raw_mode(0o644)).unwrap();
        let (kind, reason) = f.refusal("read", json!({"path": "pipe"})).await;
        assert_eq!(kind, "invalid");
        assert!(reason.contains("not a regular file"), "{reason}");
        f.still_serves("hostile").await;
    });
}
