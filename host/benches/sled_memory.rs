//! What sled 0.34 itself holds in memory per pair, whatever its cache: the
//! evidence behind issue 10's open memory target. Prints figures only.
//!
//! `cargo bench -p synchost --bench sled_memory -- [PAIRS] [CACHE_MIB] [--one-tree]`
//! (defaults 1000000 and 8)
//!
//! Writes PAIRS pairs the way a sync commits them (two link keys and a
//! 300-byte shadow, 50 pairs a transaction) into a fresh sled database with a
//! CACHE_MIB page cache, then prints the time and the process's RSS.
//! `--one-tree` writes the same keys into one tree with one atomic
//! `apply_batch` per 50 pairs instead of a transaction over two trees: the
//! cost of the store layout a redesign would choose. `--fjall` writes the same keys into fjall, an LSM-tree
//! store, two keyspaces, one atomic cross-keyspace batch per 50 pairs.

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

fn rss_mib() -> u64 {
    synchost::dev::status_kib("self", "VmRSS").unwrap_or(0) / 1024
}

/// Ids as platforms make them: a UUID-like source id in no particular
/// order, a sequential target id.
fn ids_of(i: usize) -> (String, String) {
    let spread = (i as u64).wrapping_mul(2654435761) % 4294967291;
    (
        format!("{spread:08x}-1111-2222-3333-{i:012x}"),
        format!("rec{i:014}"),
    )
}

fn fjall_run(pairs: usize, cache: u64) {
    let dir = std::env::temp_dir().join(format!("synchost-fjall-{}", std::process::id()));
    // Memtables bounded like the cache: 8 MiB a keyspace.
    let db = fjall::Database::builder(&dir)
        .cache_size(cache << 20)
        .open()
        .unwrap();
    let options = || fjall::KeyspaceCreateOptions::default().max_memtable_size(8 << 20);
    let links = db.keyspace("links", options).unwrap();
    let shadows = db.keyspace("shadows", options).unwrap();
    let shadow = vec![7u8; 300];
    let before = rss_mib();
    let started = std::time::Instant::now();
    let ids: Vec<usize> = (0..pairs).collect();
    for chunk in ids.chunks(50) {
        let mut batch = db.batch();
        for &i in chunk {
            let (sid, tid) = ids_of(i);
            batch.insert(
                &links,
                format!("job\0source\0{sid}").into_bytes(),
                tid.clone().into_bytes(),
            );
            batch.insert(
                &links,
                format!("job\0target\0{tid}").into_bytes(),
                sid.clone().into_bytes(),
            );
            batch.insert(&shadows, format!("job\0{sid}").into_bytes(), shadow.clone());
        }
        batch.commit().unwrap();
    }
    db.persist(fjall::PersistMode::SyncAll).unwrap();
    let took = started.elapsed().as_secs_f64();
    let grown = rss_mib().saturating_sub(before);
    println!("{pairs} pairs (fjall, two keyspaces, batch; memtables 8 MiB), cache {cache} MiB: {took:.1} s, RSS grew {grown} MiB");
    drop((links, shadows, db));
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let numbers: Vec<u64> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    let pairs = numbers.first().copied().unwrap_or(1_000_000) as usize;
    let cache = numbers.get(1).copied().unwrap_or(8);
    if std::env::args().any(|a| a == "--fjall") {
        return fjall_run(pairs, cache);
    }
    let dir = std::env::temp_dir().join(format!("synchost-sled-memory-{}", std::process::id()));
    let db = sled::Config::new()
        .path(&dir)
        .cache_capacity(cache << 20)
        .open()
        .unwrap();
    let links = db.open_tree("links").unwrap();
    let shadows = db.open_tree("shadows").unwrap();
    let shadow = vec![7u8; 300];
    let before = rss_mib();
    let started = std::time::Instant::now();
    let ids: Vec<usize> = (0..pairs).collect();
    let one_tree = std::env::args().any(|a| a == "--one-tree");
    for chunk in ids.chunks(50).filter(|_| one_tree) {
        let mut batch = sled::Batch::default();
        for &i in chunk {
            let (sid, tid) = ids_of(i);
            batch.insert(format!("l\0job\0source\0{sid}").as_bytes(), tid.as_bytes());
            batch.insert(format!("l\0job\0target\0{tid}").as_bytes(), sid.as_bytes());
            batch.insert(format!("s\0job\0{sid}").as_bytes(), shadow.as_slice());
        }
        links.apply_batch(batch).unwrap();
    }
    for chunk in ids.chunks(50).filter(|_| !one_tree) {
        (&links, &shadows)
            .transaction(|(l, s)| {
                for &i in chunk {
                    let (sid, tid) = ids_of(i);
                    l.insert(format!("job\0source\0{sid}").as_bytes(), tid.as_bytes())?;
                    l.insert(format!("job\0target\0{tid}").as_bytes(), sid.as_bytes())?;
                    s.insert(format!("job\0{sid}").as_bytes(), shadow.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .unwrap();
    }
    db.flush().unwrap();
    let took = started.elapsed().as_secs_f64();
    let grown = rss_mib().saturating_sub(before);
    let how = if one_tree {
        "one tree, apply_batch"
    } else {
        "two trees, transaction"
    };
    println!("{pairs} pairs ({how}), sled cache {cache} MiB: {took:.1} s, RSS grew {grown} MiB");
    drop((links, shadows, db));
    let _ = std::fs::remove_dir_all(&dir);
}
