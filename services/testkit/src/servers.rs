//! Throwaway Redis and PostgreSQL servers, started from the installed binaries on free
//! ports, so a test can stop (and restart) a dependency for real.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on loopback (free when asked; tests bind it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

pub(crate) fn wait_for_port(port: u16, up: bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let open = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if open == up {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A redis-server of the test's own. Stopped on drop.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut server = Self {
            port: free_port(),
            child: None,
            dir,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server; clients see the connection drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(
            wait_for_port(self.port, false, Duration::from_secs(5)),
            "redis still listening"
        );
    }

    /// Starts it (again) on the same port, empty.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        assert!(
            wait_for_port(self.port, true, Duration::from_secs(10)),
            "redis-server did not start"
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A PostgreSQL cluster of the test's own (initdb into a temp dir). Stopped on drop.
pub struct PostgresServer {
    port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    running: bool,
    /// Server settings beyond the defaults (`-c name=value ...`).
    options: String,
    /// Folders the server reads from (its TLS files), removed after it stops.
    keep: Vec<tempfile::TempDir>,
}

impl PostgresServer {
    pub fn start() -> Self {
        Self::start_with(String::new())
    }

    /// A server that also speaks TLS (`ssl = on`) with `certs`' `server.pem` (for
    /// `localhost` and 127.0.0.1, signed by `ca.pem`); plain connections still work.
    pub fn start_with_tls(certs: &crate::Certs) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
        std::fs::copy(certs.path("server.pem"), &cert).expect("copy the server certificate");
        std::fs::copy(certs.path("server.key"), &key).expect("copy the server key");
        // PostgreSQL refuses a key others can read, and reads it as its own user.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if running_as_root() {
            for path in [dir.path(), &cert, &key] {
                std::os::unix::fs::chown(path, Some(postgres_uid()), None).expect("chown");
            }
        }
        let options = format!(
            "-c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            cert.display(),
            key.display()
        );
        let mut server = Self::start_with(options);
        // The files live as long as the server.
        server.keep.push(dir);
        server
    }

    fn start_with(options: String) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let bin = postgres_bin_dir();
        if running_as_root() {
            // initdb refuses root; the cluster belongs to the postgres user.
            std::os::unix::fs::chown(dir.path(), Some(postgres_uid()), None)
                .expect("chown the cluster dir");
        }
        let data = dir.path().join("data");
        let status = as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let mut server = Self {
            port: free_port(),
            dir,
            bin,
            running: false,
            options,
            keep: Vec::new(),
        };
        server.restart();
        server
    }

    /// A streaming replica of this server (`pg_basebackup -R`), started on a port of its
    /// own: it replays every write the primary makes, read-only. Stopped on drop.
    pub fn start_replica(&self) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        if running_as_root() {
            std::os::unix::fs::chown(dir.path(), Some(postgres_uid()), None)
                .expect("chown the replica dir");
        }
        let data = dir.path().join("data");
        let status = as_postgres(&self.bin.join("pg_basebackup"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg("-D")
            .arg(&data)
            .args(["-R", "-X", "stream", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("pg_basebackup runs");
        assert!(status.success(), "pg_basebackup failed");
        let mut replica = Self {
            port: free_port(),
            dir,
            bin: self.bin.clone(),
            running: false,
            options: "-c hot_standby=on".to_owned(),
            keep: Vec::new(),
        };
        replica.restart();
        replica
    }

    /// Runs `sql` on this server's `postgres` database (psql), as a superuser: to pause or
    /// resume a replica's replay, say.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .arg(self.url("postgres"))
            .args(["-XAtqc", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) -> bool {
        let data = self.dir.path().join("data");
        as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the server at once (`immediate`): connections drop, new ones are refused.
    pub fn stop(&mut self) {
        if self.running {
            self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
            self.running = false;
        }
        assert!(
            wait_for_port(self.port, false, Duration::from_secs(10)),
            "postgres still listening"
        );
    }

    /// Starts it (again) on the same port, with the same data.
    pub fn restart(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 {}",
            self.port,
            self.dir.path().display(),
            self.options
        );
        let log = self.dir.path().join("postgres.log");
        let log = log.to_string_lossy();
        assert!(
            self.pg_ctl(&["-o", &options, "-l", &log, "-w", "-t", "30", "start"]),
            "pg_ctl start failed"
        );
        self.running = true;
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.running {
            self.pg_ctl(&["-m", "immediate", "stop"]);
        }
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn postgres_uid() -> u32 {
    let out = Command::new("id")
        .args(["-u", "postgres"])
        .output()
        .expect("id runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a postgres user exists")
}

fn as_postgres(program: &Path) -> Command {
    if running_as_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// `PG_BIN`, else the newest /usr/lib/postgresql/<version>/bin, else the PATH.
fn postgres_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map_or_else(PathBuf::new, |(_, bin)| bin)
}
