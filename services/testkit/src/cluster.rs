//! A Redis Cluster of the test's own, from the installed redis-server and redis-cli: three
//! masters with one replica each, as an operator runs it, so a test can kill a master
//! and watch its replica take over.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Node ports are drawn from here: a node's cluster bus listens on its port + 10000, and
/// both stay below Linux's ephemeral range (32768 and up), where an outgoing connection
/// could take a port between the check and the bind.
const PORTS: std::ops::Range<u16> = 20_000..22_768;

/// How long a silent master has before its replica takes over (`cluster-node-timeout`).
const NODE_TIMEOUT_MS: u32 = 1500;

struct Node {
    port: u16,
    child: Option<Child>,
}

/// Six redis-server processes in cluster mode (three masters, three replicas) on free
/// loopback ports, joined with `redis-cli --cluster create`. Stopped on drop.
pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts the six nodes, makes the cluster and waits until every slot is served.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ports = cluster_ports(6);
        let nodes = ports
            .iter()
            .map(|&port| Node {
                port,
                child: Some(spawn_node(dir.path(), port)),
            })
            .collect::<Vec<_>>();
        for node in &nodes {
            assert!(
                super::servers::wait_for_port(node.port, true, Duration::from_secs(10)),
                "redis-server (cluster node) did not start on {}",
                node.port
            );
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("redis-cli is installed");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        let cluster = Self { nodes, dir };
        cluster.wait_until_served(Duration::from_secs(30));
        cluster.wait_until_replicated(Duration::from_secs(30));
        cluster
    }

    /// Waits until every replica's link to its master is up: a replica that never synced
    /// refuses to take over (its data would be too old).
    fn wait_until_replicated(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let masters = self.masters();
            let synced = self.live().filter(|p| !masters.contains(p)).all(|port| {
                redis_cli(port, &["info", "replication"]).contains("master_link_status:up")
            }) && masters.iter().all(|&port| {
                // The master's side: its replica acknowledged the sync and streams.
                redis_cli(port, &["info", "replication"]).contains("state=online")
            });
            if synced {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Redis Cluster's replicas did not sync within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The URL hop reads (`REDIS_URL`): every node, so a client finds the cluster through
    /// any one of them.
    pub fn url(&self) -> String {
        let mut url = format!("redis-cluster://127.0.0.1:{}", self.nodes[0].port);
        for (i, node) in self.nodes.iter().enumerate().skip(1) {
            url.push(if i == 1 { '?' } else { '&' });
            url.push_str(&format!("node=127.0.0.1:{}", node.port));
        }
        url
    }

    /// The ports of the nodes that are masters now.
    pub fn masters(&self) -> Vec<u16> {
        let live = self.live().next().expect("a live node");
        cluster_nodes(live)
            .lines()
            .filter(|l| l.contains("master") && !l.contains("fail"))
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter_map(|addr| addr.split(['@', ':']).nth(1)?.parse().ok())
            .collect()
    }

    /// Waits until every replica has acknowledged all its master has written, then kills
    /// the master on `port` (SIGKILL: no goodbye to the others). Replication is
    /// asynchronous: a write acknowledged just before a master dies can be lost in the
    /// failover, which a test of the clients should not depend on.
    pub fn kill_master(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.masters().iter().all(|&m| caught_up(m)) {
            assert!(Instant::now() < deadline, "the replicas never caught up");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill(port);
    }

    /// Kills the node on `port` (SIGKILL: no goodbye to the others).
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until every live node says the cluster is `ok` with all 16384 slots served,
    /// and every master is a live node (a replica has been promoted for a killed master).
    pub fn wait_until_served(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let live: Vec<u16> = self.live().collect();
            let served = live.iter().all(|&port| {
                let info = redis_cli(port, &["cluster", "info"]);
                info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
            }) && self.masters().iter().all(|m| live.contains(m));
            if served {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Redis Cluster did not serve every slot within {within:?}:\n{}\n{}",
                self.live().next().map(cluster_nodes).unwrap_or_default(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines each node logged, for a failure's message.
    fn logs(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let log = std::fs::read_to_string(
                self.dir
                    .path()
                    .join(node.port.to_string())
                    .join("redis.log"),
            )
            .unwrap_or_default();
            for line in log.lines().rev().take(6) {
                out.push_str(&format!("{}: {line}\n", node.port));
            }
        }
        out
    }

    fn live(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn spawn_node(dir: &Path, port: u16) -> Child {
    let timeout = NODE_TIMEOUT_MS.to_string();
    redis_server(
        dir,
        port,
        &[
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            &timeout,
        ],
    )
}

/// A redis-server on `port` with `extra` settings, its files and log in `dir/<port>`.
fn redis_server(dir: &Path, port: u16, extra: &[&str]) -> Child {
    let node_dir = dir.join(port.to_string());
    std::fs::create_dir_all(&node_dir).expect("a node directory");
    Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .args(extra)
        .arg("--logfile")
        .arg(node_dir.join("redis.log"))
        .arg("--dir")
        .arg(&node_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed")
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Whether the master on `port` has a replica online at its own replication offset.
fn caught_up(port: u16) -> bool {
    let info = redis_cli(port, &["info", "replication"]);
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
    };
    let Some(offset) = field("master_repl_offset:") else {
        return false;
    };
    field("slave0:").is_some_and(|replica| {
        replica.contains("state=online") && replica.contains(&format!("offset={offset},"))
    })
}

fn cluster_nodes(port: u16) -> String {
    redis_cli(port, &["cluster", "nodes"])
}

/// `n` ports whose cluster bus port (+10000) is free too.
fn cluster_ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::with_capacity(n);
    while ports.len() < n {
        let port = PORTS.start + rand::random::<u16>() % (PORTS.end - PORTS.start);
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if !ports.contains(&port) && free(port) && free(port + 10_000) {
            ports.push(port);
        }
    }
    ports
}

/// A primary and its replica watched by three sentinels (quorum 2), from the installed
/// redis-server: a managed Redis with a standby, as hop reaches it through
/// `redis-sentinel://`. Stopped on drop.
pub struct RedisSentinel {
    primary: Node,
    replica: Node,
    sentinels: Vec<Node>,
    _dir: tempfile::TempDir,
}

/// The service name the sentinels monitor.
pub const SENTINEL_SERVICE: &str = "hop-primary";

impl RedisSentinel {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ports = cluster_ports(5);
        let plain = |port: u16, extra: &[&str]| redis_server(dir.path(), port, extra);
        let primary = Node {
            port: ports[0],
            child: Some(plain(ports[0], &[])),
        };
        let replica = Node {
            port: ports[1],
            child: Some(plain(
                ports[1],
                &["--replicaof", "127.0.0.1", &ports[0].to_string()],
            )),
        };
        let sentinels = ports[2..]
            .iter()
            .map(|&port| {
                // A sentinel rewrites its configuration file, so each has its own.
                let conf = dir.path().join(format!("sentinel-{port}.conf"));
                std::fs::write(
                    &conf,
                    format!(
                        "bind 127.0.0.1\nport {port}\n\
                         sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {} 2\n\
                         sentinel down-after-milliseconds {SENTINEL_SERVICE} 1000\n\
                         sentinel failover-timeout {SENTINEL_SERVICE} 5000\n",
                        ports[0]
                    ),
                )
                .expect("a sentinel configuration");
                let child = Command::new("redis-server")
                    .arg(&conf)
                    .arg("--sentinel")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-server is installed");
                Node {
                    port,
                    child: Some(child),
                }
            })
            .collect::<Vec<_>>();
        for port in ports.iter() {
            assert!(
                super::servers::wait_for_port(*port, true, Duration::from_secs(10)),
                "redis-server did not start on {port}"
            );
        }
        let sentinel = Self {
            primary,
            replica,
            sentinels,
            _dir: dir,
        };
        sentinel.wait_for_primary(sentinel.primary.port, Duration::from_secs(20));
        // A failover needs the sentinels to know the replica and each other (a quorum).
        let deadline = Instant::now() + Duration::from_secs(30);
        let replica = sentinel.replica.port.to_string();
        while !sentinel.sentinels.iter().all(|s| {
            redis_cli(s.port, &["sentinel", "ckquorum", SENTINEL_SERVICE]).starts_with("OK 3")
                && redis_cli(s.port, &["sentinel", "replicas", SENTINEL_SERVICE]).contains(&replica)
        }) {
            assert!(
                Instant::now() < deadline,
                "the sentinels never formed a quorum"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        sentinel
    }

    /// The URL hop reads: every sentinel, and the service name.
    pub fn url(&self) -> String {
        let mut url = format!(
            "redis-sentinel://127.0.0.1:{}?sentinelServiceName={SENTINEL_SERVICE}",
            self.sentinels[0].port
        );
        for node in &self.sentinels[1..] {
            url.push_str(&format!("&node=127.0.0.1:{}", node.port));
        }
        url
    }

    /// Kills the primary; the sentinels promote the replica. Its port.
    pub fn kill_primary(&mut self) -> u16 {
        if let Some(mut child) = self.primary.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.replica.port
    }

    /// Waits until every sentinel names `port` as the primary (and its link to it is up).
    pub fn wait_for_primary(&self, port: u16, within: Duration) {
        let deadline = Instant::now() + within;
        let want = format!("127.0.0.1\n{port}");
        loop {
            let agreed = self.sentinels.iter().all(|s| {
                redis_cli(
                    s.port,
                    &["sentinel", "get-master-addr-by-name", SENTINEL_SERVICE],
                )
                .trim()
                    == want
            });
            let replicating = redis_cli(port, &["info", "replication"]).contains("role:master");
            if agreed && replicating {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the sentinels did not agree on 127.0.0.1:{port} as the primary within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        let nodes = [&mut self.primary, &mut self.replica]
            .into_iter()
            .chain(self.sentinels.iter_mut());
        for node in nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
