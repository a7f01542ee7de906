//! What Switchyard's tests share: plugins built from source ([`plugins`]), the real
//! `switchyard` binary started on ports chosen at run time with a temporary data directory and
//! talked to over REST like a user would ([`Server`]), MQTT devices ([`MqttPeer`],
//! [`stream`]), the real brokers a test needs (Mosquitto, tansu for Kafka, pulsar-lite for
//! Pulsar), a real PostgreSQL ([`postgres`]), TLS certificates of a test's own authority ([`tls`]), and waiting for something to become true ([`eventually`]) instead of sleeping.

pub mod clients;
pub mod kafka;
pub mod mosquitto;
mod peer;
pub mod plugins;
pub mod postgres;
pub mod pulsar;
mod server;
pub mod stream;
pub mod tls;

pub use peer::MqttPeer;
pub use server::{Api, Options, Server};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

/// Starts `program` with `args` in `dir` for the rest of this test process: a watchdog shell
/// ends it when the test process exits (statics are never dropped, and a leftover broker would
/// hold its port).
pub fn spawn_for_test_binary(program: &Path, args: &[String], dir: &Path) {
    watched(program, args, dir, false);
}

/// Like [`spawn_for_test_binary`]; with `remove_dir`, the watchdog also waits for the program
/// to end and removes `dir`.
pub(crate) fn watched(program: &Path, args: &[String], dir: &Path, remove_dir: bool) {
    let cleanup = match remove_dir {
        true => format!("; wait $child; rm -rf {}", dir.display()),
        false => String::new(),
    };
    let script = format!(
        "\"$0\" {args} & child=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done; \
         kill $child 2>/dev/null{cleanup}",
        args = args.join(" "),
        parent = std::process::id()
    );
    let watchdog = Command::new("sh")
        .args(["-c", &script])
        .arg(program)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    // It outlives every test of the binary; reaping it is the init process's job.
    std::mem::forget(watchdog);
}

/// A broker process of one test's own, listening on `addr`, to kill and start again there.
pub struct OwnBroker {
    pub addr: String,
    name: &'static str,
    command: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnBroker {
    /// Starts `command` (program and arguments), which listens on `addr`, in `dir`.
    pub fn start(
        name: &'static str,
        addr: String,
        command: Vec<String>,
        dir: PathBuf,
    ) -> OwnBroker {
        let mut broker = OwnBroker {
            addr,
            name,
            command,
            dir,
            child: None,
        };
        broker.restart();
        broker
    }

    /// Kills the broker with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(&self.command[0])
            .args(&self.command[1..])
            .current_dir(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.name));
        self.child = Some(child);
        wait_listening(&self.addr, self.name);
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fixture kept in the repository's `tests/fixtures` (see its README).
pub fn fixture(name: &str) -> PathBuf {
    plugins::root().join("tests/fixtures").join(name)
}

/// Copies the folder `from`, with everything in it, to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating the copy's folder");
    for entry in std::fs::read_dir(from).expect("reading the folder to copy") {
        let entry = entry.expect("a folder entry");
        let target = to.join(entry.file_name());
        match entry.file_type().expect("its type").is_dir() {
            true => copy_dir(&entry.path(), &target),
            false => drop(std::fs::copy(entry.path(), &target).expect("copying a file")),
        }
    }
}

/// Waits until something listens on `addr`; `what` names it if nothing does within 20 s.
pub fn wait_listening(addr: &str, what: &str) {
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
