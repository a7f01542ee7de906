//! An external Mosquitto broker for tests that need a real third-party peer: started on a
//! free port with a password file, stopped when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const USER: &str = "device";
pub const PASSWORD: &str = "s3cret-pass";

pub struct Mosquitto {
    child: Child,
    pub addr: SocketAddr,
}

fn binary() -> &'static str {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("mosquitto is not installed: run scripts/install-mosquitto.sh")
}

impl Mosquitto {
    /// Starts Mosquitto requiring [`USER`]/[`PASSWORD`].
    pub async fn start(dir: &Path) -> Mosquitto {
        let port = super::free_port();
        let passwords = dir.join("mosquitto.passwd");
        let status = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&passwords)
            .args([USER, PASSWORD])
            .status()
            .expect("mosquitto_passwd is not installed: run scripts/install-mosquitto.sh");
        assert!(status.success(), "mosquitto_passwd failed");
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\npersistence false\n",
                passwords.display()
            ),
        )
        .expect("writing mosquitto.conf");
        let child = Command::new(binary())
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mosquitto");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        super::eventually("mosquitto to listen", Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(addr).await.ok()
        })
        .await;
        Mosquitto { child, addr }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
