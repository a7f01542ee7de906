//! An external Mosquitto broker for tests that need a real third-party peer: started on a
//! free port with a password file, stopped when dropped. It can keep its sessions on disk and
//! be restarted on the same port, for tests of a broker that goes away under load. Its log is
//! kept, for tests that check what it saw (which connections it closed, and why).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const USER: &str = "device";
pub const PASSWORD: &str = "s3cret-pass";

pub struct Mosquitto {
    child: Child,
    pub addr: SocketAddr,
    config: PathBuf,
    log: PathBuf,
}

fn binary() -> &'static str {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("mosquitto is not installed: run scripts/install-mosquitto.sh")
}

impl Mosquitto {
    /// Starts Mosquitto requiring [`USER`]/[`PASSWORD`], keeping nothing on disk.
    pub async fn start(dir: &Path) -> Mosquitto {
        Mosquitto::start_with(dir, false).await
    }

    /// Starts Mosquitto requiring [`USER`]/[`PASSWORD`]. With `persistent`, it saves its
    /// sessions and queued messages in `dir` when stopped and loads them when started again.
    /// Either way an offline persistent session may queue up to 100,000 messages (the default
    /// of 1,000 would drop messages a test counts on).
    pub async fn start_with(dir: &Path, persistent: bool) -> Mosquitto {
        let port = crate::free_port();
        let passwords = dir.join("mosquitto.passwd");
        let status = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&passwords)
            .args([USER, PASSWORD])
            .status()
            .expect("mosquitto_passwd is not installed: run scripts/install-mosquitto.sh");
        assert!(status.success(), "mosquitto_passwd failed");
        let config = dir.join("mosquitto.conf");
        let persistence = if persistent {
            // Started as root, Mosquitto would switch to its own user, which cannot write
            // its database into the test's directory.
            format!(
                "persistence true\npersistence_location {}/\nuser root\n",
                dir.display()
            )
        } else {
            "persistence false\n".to_owned()
        };
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n{persistence}max_queued_messages 100000\n",
                passwords.display()
            ),
        )
        .expect("writing mosquitto.conf");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = dir.join("mosquitto.log");
        let child = launch(&config, &log, addr).await;
        Mosquitto {
            child,
            addr,
            config,
            log,
        }
    }

    /// What the broker logged so far (its default log types: connections, disconnections
    /// and why, warnings and errors), across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the broker cleanly (SIGTERM: a persistent one saves its state) and starts it
    /// again on the same port.
    pub async fn restart(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        self.child = launch(&self.config, &self.log, self.addr).await;
    }
}

/// Starts the broker with `config`, its log (on stderr) appended to `log`.
async fn launch(config: &Path, log: &Path, addr: SocketAddr) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("opening mosquitto's log");
    let child = Command::new(binary())
        .arg("-c")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting mosquitto");
    crate::eventually("mosquitto to listen", Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(addr).await.ok()
    })
    .await;
    child
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
