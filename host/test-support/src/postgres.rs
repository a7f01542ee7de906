//! A real PostgreSQL for the tests of the shared store: Debian's server (installed by
//! `scripts/install-postgres.sh`), a cluster of the test binary's own in a temporary
//! directory, started once per test binary on a free port of 127.0.0.1 with password
//! authentication, and stopped and removed when the test process exits. PostgreSQL refuses to
//! run as root, so as root the cluster runs as the `postgres` user. Each caller of
//! [`database`] gets an empty database of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The cluster's superuser password, which tests check never shows.
pub const PASSWORD: &str = "pg-secret-Zq7";

struct Cluster {
    port: u16,
    bin: PathBuf,
    /// The cluster's directory: `data/`, the password file, the socket.
    dir: PathBuf,
}

/// The directory of the newest installed server's programs.
fn bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    found.sort_by_key(|bin| {
        let version = bin.parent().and_then(Path::file_name);
        version.and_then(|v| v.to_str()?.parse::<u32>().ok())
    });
    found
        .pop()
        .expect("PostgreSQL is not installed: run scripts/install-postgres.sh")
}

/// `program` with `args`, as the `postgres` user when we are root.
fn as_owner(program: &Path, args: &[&str]) -> Command {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout);
    match root.as_deref() {
        Ok(b"0\n") => {
            let mut command = Command::new("setpriv");
            command.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ]);
            command.arg(program).args(args);
            command
        }
        _ => {
            let mut command = Command::new(program);
            command.args(args);
            command
        }
    }
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = Cluster::init();
        let args = cluster.options();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        watch(as_owner(&cluster.bin.join("postgres"), &args), &cluster.dir);
        cluster.wait_ready();
        cluster
    })
}

/// Runs `server` for the rest of this test process; the cluster's directory goes with it.
fn watch(server: Command, dir: &Path) {
    let program = PathBuf::from(server.get_program());
    let args: Vec<String> = (server.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    crate::watched(&program, &args, dir, true);
}

impl Cluster {
    /// A new cluster in a temporary directory, owned by the server's user, not started.
    fn init() -> Cluster {
        let bin = bin();
        let dir = tempfile::Builder::new()
            .prefix("switchyard-pg-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let (data, pwfile) = (dir.join("data"), dir.join("password"));
        std::fs::write(&pwfile, PASSWORD).expect("writing the password file");
        // Fails harmlessly when we are not root: then the directory is already the server's.
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status();
        let init = as_owner(
            &bin.join("initdb"),
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={}", pwfile.display()),
                "--locale=C",
                "--encoding=UTF8",
            ],
        )
        .stdout(Stdio::null())
        .output()
        .expect("running initdb");
        assert!(
            init.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        Cluster {
            port: crate::free_port(),
            bin,
            dir,
        }
    }

    /// The server's options: its data, its port on 127.0.0.1, its socket in the directory.
    fn options(&self) -> Vec<String> {
        [
            "-D",
            &self.dir.join("data").display().to_string(),
            "-p",
            &self.port.to_string(),
            "-k",
            &self.dir.display().to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=300",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// A new, empty database; its URL, with the password in it.
    fn database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let created = self.psql("postgres", &format!("CREATE DATABASE {name}"));
        assert!(
            created.status.success(),
            "creating database {name}: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{name}",
            self.port
        )
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.join("data").display().to_string();
        let mut all = vec!["-D", &data, "-w"];
        all.extend(args);
        let status = as_owner(&self.bin.join("pg_ctl"), &all)
            .stdout(Stdio::null())
            .status()
            .expect("running pg_ctl");
        assert!(status.success(), "pg_ctl {args:?} failed");
    }

    fn psql(&self, database: &str, sql: &str) -> std::process::Output {
        Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", database, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("running psql")
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "PostgreSQL did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The URL of a new, empty database on the test binary's cluster, with the password in it.
pub fn database() -> String {
    cluster().database()
}

/// A PostgreSQL of one test's own, to stop and start again on the same port (the test
/// binary's cluster serves every test at once). Stopped and removed when dropped.
pub struct OwnCluster(Cluster);

impl OwnCluster {
    pub fn start() -> OwnCluster {
        let own = OwnCluster(Cluster::init());
        own.start_again();
        own
    }

    /// The URL of a new, empty database on it.
    pub fn database(&self) -> String {
        self.0.database()
    }

    /// Stops it (fast: open connections are closed).
    pub fn stop(&self) {
        self.0.pg_ctl(&["-m", "fast", "stop"]);
    }

    /// Starts it again, on the same port; returns once it accepts connections.
    pub fn start_again(&self) {
        let log = self.0.dir.join("server.log").display().to_string();
        let options = self.0.options()[2..].join(" ");
        self.0.pg_ctl(&["-l", &log, "-o", &options, "start"]);
        self.0.wait_ready();
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let data = self.0.dir.join("data").display().to_string();
        let _ = as_owner(
            &self.0.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "stop"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
        let _ = std::fs::remove_dir_all(&self.0.dir);
    }
}

/// Runs `sql` in the database of `url` (from [`database`]) and returns psql's unaligned output.
pub fn query(url: &str, sql: &str) -> String {
    let name = url.rsplit('/').next().unwrap_or_default();
    let output = cluster().psql(name, sql);
    assert!(
        output.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
