//! A run's memory is a function of its batch size, not of the table's size:
//! the `synchost run` process pulling ten times more records peaks at much
//! the same resident memory. Peak memory is the kernel's high-water mark of
//! the process (`VmHWM`), sampled until it exits; the simulators live in this
//! test's own process and are not counted.

mod common;

use common::{connectors, World};

/// The child's peak resident memory in KiB, once it has exited.
fn peak_kib_of(child: std::process::Child) -> u64 {
    let (status, peak) = synchost::dev::wait_with_peak(child).unwrap();
    assert!(status.success(), "the run failed: {status}");
    peak
}

/// Pulls `n` Notion records into an empty Airtable table; returns the run's
/// peak resident memory in KiB.
async fn pull(n: usize) -> u64 {
    let mut w = World::new(&format!("memory-{n}"), "source_wins").await;
    w.job["mode"] = serde_json::json!("pull");
    // Airtable's limits off: memory is measured here, not the platform's pace.
    w.airtable.set_rate_limit(None);
    w.job["target"]["connection"]["rate_limit"] =
        serde_json::json!({"per_second": 1e9, "burst": 1000000});
    w.seed_notion("m", 0..n);
    w.state.take();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_synchost"));
    cmd.arg("run")
        .arg(w.job_file())
        .arg("--data")
        .arg(&w.dir)
        .arg("--connectors")
        .arg(connectors())
        .env(
            "SYNCHOST_CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sync-cache"),
        )
        .env("MALLOC_ARENA_MAX", "1")
        // mimalloc gives freed pages back at once: its retention otherwise
        // moved the peak by several MiB from run to run.
        .env("MIMALLOC_PURGE_DELAY", "0")
        // The smallest page cache, so that what is left is what grows.
        .env("SYNCHOST_STATE_CACHE_MIB", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let peak = tokio::task::spawn_blocking(move || peak_kib_of(cmd.spawn().unwrap()))
        .await
        .unwrap();
    assert_eq!(w.airtable_rows().len(), n, "every record pulled");
    peak
}

// Passes since the pairs' store keeps 1 MiB memtables (1,000 records 77 MiB,
// 10,000 records 84 MiB in a debug build); with 8 MiB ones it failed (96 MiB).
// On a later machine 1,000 and 10,000 gave 1.14x to 1.19x, and 2,000 and
// 20,000 1.15x to 1.20x (once over) with mimalloc's default purge delay; with
// it at 0, 2,000 and 20,000 give 1.13x to 1.14x (80 and 91 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_of_ten_times_the_records_peaks_at_much_the_same_memory() {
    // Warm the compiled-connector cache first, so that neither run compiles.
    pull(10).await;
    let small = pull(2_000).await;
    let large = pull(20_000).await;
    eprintln!("peak resident memory: 2,000 records {small} KiB, 20,000 records {large} KiB");
    assert!(
        (large as f64) < small as f64 * 1.2,
        "20,000 records peaked at {large} KiB, 2,000 at {small} KiB: memory grows with the table"
    );
}
