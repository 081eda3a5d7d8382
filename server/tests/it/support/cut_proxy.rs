//! A TCP proxy in front of PostgreSQL that can lose a COMMIT's reply: the
//! COMMIT reaches the server (and takes effect), but the connection is cut
//! before the answer reaches the gateway — as when PostgreSQL restarts at
//! that instant or a proxy drops the connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with the next transaction carrying the marker.
#[derive(Default)]
struct Trap {
    /// Bytes whose appearance in a connection arms the cut there.
    marker: std::sync::Mutex<Option<Vec<u8>>>,
    /// Once armed: also refuse every new connection (the store stays away).
    refuse: AtomicBool,
    cuts: AtomicUsize,
    /// Cuts every open connection.
    kill: tokio::sync::Notify,
}

/// The proxy; it stops when dropped.
pub struct CutProxy {
    port: u16,
    trap: Arc<Trap>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CutProxy {
    /// A proxy to the server of `database_url` (`postgres://user@host:port/db`).
    pub async fn start(database_url: &str) -> CutProxy {
        let rest = database_url.split_once("://").unwrap().1;
        let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h).split('/').next().unwrap().to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let trap = Arc::new(Trap::default());
        let task = tokio::spawn({
            let trap = trap.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    if trap.refuse.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(&hostport).await else { continue };
                    tokio::spawn(relay(client, server, trap.clone()));
                }
            }
        });
        CutProxy { port, trap, task }
    }

    /// `database_url` pointed at the proxy.
    pub fn url(&self, database_url: &str) -> String {
        let (scheme, rest) = database_url.split_once("://").unwrap();
        let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
        let path = rest.split_once('/').map_or("", |(_, p)| p);
        let at = if user.is_empty() { String::new() } else { format!("{user}@") };
        format!("{scheme}://{at}127.0.0.1:{}/{path}", self.port)
    }

    /// Cuts the connection that sends `marker` right after it sends its
    /// next `COMMIT`, dropping the reply. With `stay_away`, every new
    /// connection is refused from then on, and every open one cut, until
    /// [`CutProxy::heal`].
    pub fn cut_commit_after(&self, marker: &str, stay_away: bool) {
        *self.trap.marker.lock().unwrap() = Some(marker.as_bytes().to_vec());
        if stay_away {
            self.trap.refuse.store(true, Ordering::SeqCst);
        }
    }

    /// Accepts connections again.
    pub fn heal(&self) {
        self.trap.refuse.store(false, Ordering::SeqCst);
    }

    /// How many COMMIT replies were dropped.
    pub fn cuts(&self) -> usize {
        self.trap.cuts.load(Ordering::SeqCst)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

async fn relay(client: TcpStream, server: TcpStream, trap: Arc<Trap>) {
    let killer = trap.clone();
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let muted = Arc::new(AtomicBool::new(false));
    let upstream = {
        let muted = muted.clone();
        let trap = trap.clone();
        async move {
            let mut buffer = vec![0u8; 64 * 1024];
            let mut marked = false;
            loop {
                let n = match client_read.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let chunk = &buffer[..n];
                if !marked {
                    let mut marker = trap.marker.lock().unwrap();
                    if marker.as_deref().is_some_and(|m| contains(chunk, m)) {
                        *marker = None;
                        marked = true;
                    }
                }
                let cut = marked && contains(chunk, b"COMMIT");
                if cut {
                    // Whatever the server answers from now on is lost.
                    muted.store(true, Ordering::SeqCst);
                }
                if server_write.write_all(chunk).await.is_err() {
                    return;
                }
                if cut {
                    // Let the server apply the COMMIT, then cut both sides.
                    trap.cuts.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    if trap.refuse.load(Ordering::SeqCst) {
                        trap.kill.notify_waiters();
                    }
                    return;
                }
            }
        }
    };
    let downstream = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if muted.load(Ordering::SeqCst) {
                continue;
            }
            if client_write.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    };
    // The first side to finish ends the connection: both halves drop.
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
        () = killer.kill.notified() => {}
    }
}
