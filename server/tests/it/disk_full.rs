//! The embedded store on a filesystem that fills up: while it is full the
//! gateway answers 503 and is not ready; once space is freed it writes
//! again without a restart, and nothing accepted before is lost.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::Method;
use serde_json::Value;

use crate::support::{Backend, TestGateway, approve_intent};

/// A small tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts `mib` MiB of tmpfs, or answers `None` where this process may
    /// not mount filesystems.
    fn mount(mib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Some(SmallDisk { dir }),
            _ => None,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem refuses; answers its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

async fn ready(gw: &TestGateway) -> (u16, Value) {
    let answer = gw.call(Method::GET, "/readyz", None, None).await;
    (answer.status.as_u16(), answer.body)
}

#[tokio::test]
async fn a_full_disk_is_503_and_not_ready_and_heals_when_space_is_freed() {
    let Some(disk) = SmallDisk::mount(12) else {
        eprintln!("skipped: mounting a tmpfs needs CAP_SYS_ADMIN");
        return;
    };
    let data = disk.path().join("data");
    let gw = TestGateway::start_with(Backend::Sqlite, |c| c.data_dir = data).await;
    let f = gw.tenant_fixture().await;
    let mut accepted = 0u64;
    for _ in 0..5 {
        gw.declare(&f.live, approve_intent()).await.expect(200);
        accepted += 1;
    }

    // Load from four clients while the disk fills up: the write-ahead log
    // may still have room for a few commits; then every decision is
    // refused as unavailable, never as an internal error.
    let gw = std::sync::Arc::new(gw);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (gw, stop, key) = (gw.clone(), stop.clone(), f.live.clone());
        clients.push(tokio::spawn(async move {
            let (mut written, mut refused) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || refused < 3 {
                let answer = gw.declare(&key, approve_intent()).await;
                match answer.status.as_u16() {
                    200 => written += 1,
                    _ => {
                        answer.expect_error(503, "store_unavailable");
                        refused += 1;
                    }
                }
                if written + refused > 2_000 {
                    break;
                }
            }
            (written, refused)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let filler = disk.fill();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut refused = 0;
    for client in clients {
        let (w, r) = client.await.unwrap();
        accepted += w;
        refused += r;
    }
    assert!(refused >= 12, "a full disk never refused a decision");
    let (status, body) = ready(&gw).await;
    assert_eq!(status, 503, "ready while no decision can be written: {body}");

    std::fs::remove_file(filler).unwrap();
    // Without a restart: the next decisions are written, and readiness returns.
    let mut written = false;
    for _ in 0..50 {
        let answer = gw.declare(&f.live, approve_intent()).await;
        if answer.status.as_u16() == 200 {
            written = true;
            accepted += 1;
            break;
        }
        answer.expect_error(503, "store_unavailable");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(written, "the gateway did not write again once space was freed");
    for _ in 0..5 {
        gw.declare(&f.live, approve_intent()).await.expect(200);
        accepted += 1;
    }
    let (status, body) = ready(&gw).await;
    assert_eq!(status, 200, "not ready after space was freed: {body}");

    // Every acknowledged decision is in an intact chain.
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["verified"].as_u64().unwrap(), f.base + accepted, "{verified}");
}
