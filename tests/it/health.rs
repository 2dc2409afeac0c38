//! `GET /health` reports the store honestly; `GET /v1/nodes` lists the nodes on it.

use std::time::Duration;

use crate::support::TestServer;

#[tokio::test]
async fn a_healthy_server_says_so() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], "klaxon");
    assert_eq!(body["version"], klaxon::VERSION);
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn a_store_that_cannot_commit_is_reported_as_503() {
    if crate::support::postgres::enabled() {
        // SQLite-specific: a held write lock is how an SQLite store "cannot commit".
        return;
    }
    let server = TestServer::start().await;
    // Another process holding the write lock is what "unreachable" looks like for SQLite.
    let mut blocker = rusqlite::Connection::open(&server.db_path).expect("open the same file");
    blocker
        .busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    let lock = blocker
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .expect("take the write lock");

    let (status, body) = server.get("/health").await;
    assert_eq!(status, 503);
    assert_eq!(body["database"], "error");
    assert_eq!(body["status"], "unavailable");

    lock.rollback().expect("release the lock");
    // The probe queued behind the lock finishes; a fresh one succeeds.
    let mut recovered = false;
    for _ in 0..10 {
        if server.get("/health").await.0 == 200 {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "health recovers once the lock is released");
}

#[tokio::test]
async fn a_lone_server_lists_itself_as_the_one_live_node() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/v1/nodes").await;
    assert_eq!(status, 200, "{body}");
    let nodes = body["data"].as_array().expect("a list");
    assert_eq!(nodes.len(), 1, "{body}");
    let node = &nodes[0];
    assert_eq!(node["this_node"], true);
    assert_eq!(node["alive"], true);
    assert_eq!(node["deliveries_held"], 0);
    assert_eq!(node["escalations_held"], 0);
    assert!(
        node["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("node_")),
        "{node}"
    );
    // Only PostgreSQL nodes can be taken over, so only they have a liveness deadline.
    assert_eq!(
        node.get("alive_until").is_some(),
        crate::support::postgres::enabled(),
        "{node}"
    );
}

#[tokio::test]
async fn a_nearly_full_disk_is_reported_as_degraded() {
    if crate::support::postgres::enabled() {
        // The free-space check watches the SQLite file's disk; PostgreSQL's is the server's.
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start_expecting_health(
        dir,
        |s| s.store.min_free_disk_bytes = u64::MAX / 2,
        503,
    )
    .await;
    let (status, body) = server.get("/health").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["database"], "ok", "the store still commits: {body}");
    assert_eq!(body["version"], klaxon::VERSION);
    let reasons = body["reasons"].as_array().expect("reasons");
    assert_eq!(reasons.len(), 1, "{body}");
    assert!(
        reasons[0]
            .as_str()
            .is_some_and(|r| r.starts_with("disk_low: ")),
        "{body}"
    );
}

/// A tmpfs of a few megabytes mounted on a directory: a disk that really fills up. Needs root
/// (or CAP_SYS_ADMIN). Unmounted (lazily, whatever still has files open) when dropped.
struct SmallDisk {
    mount_point: std::path::PathBuf,
}

impl SmallDisk {
    /// `None` where mounting is not allowed.
    fn mount(on: &std::path::Path, megabytes: u32) -> Option<SmallDisk> {
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(on)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| SmallDisk {
            mount_point: on.to_owned(),
        })
    }

    /// Writes a file until the disk is full; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.mount_point.join("filler");
        let mut file = std::fs::File::create(&path).expect("create filler");
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        // The last partial block, byte by byte, so not even a page is left.
        while file.write_all(&[0]).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
    }
}

#[tokio::test]
async fn writes_failing_on_a_full_disk_are_reported_until_one_succeeds() {
    if crate::support::postgres::enabled() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(disk) = SmallDisk::mount(dir.path(), 8) else {
        eprintln!(
            "skipped: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN); the full-disk path is untested"
        );
        return;
    };
    // The free-space check is off, so only failing writes can make the server degraded.
    let server =
        TestServer::start_in(dir, "127.0.0.1:0", |s| s.store.min_free_disk_bytes = 0).await;
    let filler = disk.fill();

    let payload = serde_json::json!({"type": "t", "payload": {"x": "y".repeat(200_000)}});
    let mut refused = None;
    for _ in 0..50 {
        let answer = server.post_event(&payload).await;
        if answer.0 != 202 {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("a write fails once the disk is full");
    crate::support::assert_error(&refused, 503, "store_unavailable");

    let (status, body) = server.get("/health").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    let reasons = body["reasons"].as_array().expect("reasons");
    assert!(
        reasons.iter().any(|r| r
            .as_str()
            .is_some_and(|r| r.starts_with("writes_failing: ") && r.contains("disk full"))),
        "{body}"
    );

    std::fs::remove_file(&filler).expect("free the disk");
    let (status, _) = server.post_event(&serde_json::json!({"type": "t"})).await;
    assert_eq!(status, 202, "a write succeeds once there is room");
    let (status, body) = server.get("/health").await;
    assert_eq!(
        status, 200,
        "healthy again after a successful write: {body}"
    );

    // Stop before the disk goes, so the store's last commit has somewhere to land.
    let dir = server.stop_keeping_files().await;
    drop(disk);
    drop(dir);
}
