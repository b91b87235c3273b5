//! SQLite: the embedded store `hop up` runs on when no PostgreSQL is configured. One file
//! (`HOP_DATA_DIR/hop.db`) in WAL mode, with its own migrations embedded in the binary.
//!
//! Writes go to one writer thread that owns the only read-write connection. It takes every
//! job queued (up to [`MAX_BATCH`]), runs them in one transaction, each in its own
//! savepoint (a job that fails undoes only itself), commits once with a full sync, and only
//! then answers them: a caller told "done" holds a durable write, and a burst of creates
//! shares one commit. Reads run on a small pool of read-only connections on tokio's
//! blocking threads; WAL lets them read while the writer writes.
//!
//! One process owns the file: [`Sqlite::open`] holds an exclusive lock on
//! `HOP_DATA_DIR/hop.lock` (released by the kernel however the process ends), so a second
//! `hop up` on the same directory stops at start instead of serving with caches the first
//! one cannot invalidate. [`backup`] needs no lock: it reads a consistent snapshot beside
//! a running `hop up`; [`Sqlite::open_beside`] writes beside it (short admin commands).
//!
//! Times are stored as unix microseconds ([`micros`], [`from_micros`]).

use crate::config::ConfigError;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};

pub use rusqlite;

/// The database file inside HOP_DATA_DIR.
pub const FILE: &str = "hop.db";

/// The lock file the owning process holds inside HOP_DATA_DIR.
const LOCK: &str = "hop.lock";

/// Jobs committed together at most.
pub const MAX_BATCH: usize = 256;

/// Read-only connections at most (reads beyond wait for one).
const READERS: usize = 4;

/// How long a statement waits for a lock another process holds (a `hop backup`, a second
/// `hop up` on the same file) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// "hop!" in the file header, so a SQLite file that is not hop's is told apart.
const APPLICATION_ID: i32 = 0x686f_7021;

/// The embedded migrations: `user_version` is how many of them a file has applied.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "V1__schema",
        include_str!("../migrations-sqlite/V1__schema.sql"),
    ),
    (
        "V2__api_keys",
        include_str!("../migrations-sqlite/V2__api_keys.sql"),
    ),
    (
        "V3__tags",
        include_str!("../migrations-sqlite/V3__tags.sql"),
    ),
    (
        "V4__clicks_by_link",
        include_str!("../migrations-sqlite/V4__clicks_by_link.sql"),
    ),
];

/// Why SQLite gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The commit of the batch a job ran in failed, so the job's writes are not there.
    #[error("sqlite commit failed: {0}")]
    Commit(String),
    /// The disk (or the file system's quota) is full: nothing of the job was written, and
    /// nothing will be until space is freed. The file itself is intact.
    #[error("the disk holding the sqlite store is full: {0}")]
    Full(String),
    #[error("the sqlite store is closed")]
    Closed,
    #[error("a sqlite job panicked")]
    Panicked,
    #[error("{0}")]
    Io(String),
    /// The job gave up on its own (what it wrote is undone): why.
    #[error("{0}")]
    Aborted(String),
}

impl SqliteError {
    /// Whether the disk is full.
    pub fn is_full(&self) -> bool {
        match self {
            Self::Full(_) => true,
            Self::Sqlite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            _ => false,
        }
    }

    /// Whether the store could not do it now but may later: a full disk, an I/O error, a
    /// lock held elsewhere, a closed store. Everything else is a bug or bad data.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode as C;
        match self {
            Self::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    C::DiskFull
                        | C::SystemIoFailure
                        | C::DatabaseBusy
                        | C::DatabaseLocked
                        | C::CannotOpen
                        | C::ReadOnly
                        | C::OutOfMemory
                )
            ),
            Self::Commit(_) | Self::Full(_) | Self::Closed | Self::Io(_) => true,
            Self::Panicked | Self::Aborted(_) => false,
        }
    }
}

/// Why a batch's transaction could not be used or committed.
#[derive(Debug, Clone)]
struct Failure {
    message: String,
    full: bool,
}

impl Failure {
    fn of(e: &rusqlite::Error) -> Self {
        Self {
            message: e.to_string(),
            full: e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
        }
    }

    fn error(&self) -> SqliteError {
        if self.full {
            SqliteError::Full(self.message.clone())
        } else {
            SqliteError::Commit(self.message.clone())
        }
    }
}

type Reply = Box<dyn FnOnce(Option<&Failure>) + Send>;
/// A write: run inside the batch's transaction (or told why it could not be), it says
/// whether it succeeded (else its savepoint is rolled back) and how to answer once the
/// batch's commit is known.
type Job = Box<dyn FnOnce(Result<&Connection, &Failure>) -> (bool, Reply) + Send>;

/// The embedded store. Cheap to clone; the writer thread stops when the last clone goes.
#[derive(Clone)]
pub struct Sqlite {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// Held (locked) for as long as the store is open; `None` beside its owner.
    _lock: Option<std::fs::File>,
    health: StoreHealth,
    jobs: mpsc::Sender<Job>,
    readers: Mutex<Vec<Connection>>,
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn data_dir_error(message: String) -> ConfigError {
    ConfigError::new("HOP_DATA_DIR", message)
}

impl Sqlite {
    /// Opens (creating it if needed) `data_dir/hop.db`, applies the migrations and starts
    /// the writer. A directory that cannot be created or written, a file that is not a hop
    /// database, or one written by a newer hop, is an error naming the path.
    pub fn open(data_dir: &Path) -> Result<Self, ConfigError> {
        crate::secret::create_data_dir(data_dir)?;
        let lock = lock_dir(data_dir)?;
        let path = data_dir.join(FILE);
        create_file(&path)?;
        Self::start(path, Some(lock))
    }

    /// Opens an existing store beside the process that owns it (a running `hop up`), for
    /// a short administrative write (`hop users set-password`): no lock taken, nothing
    /// created; SQLite's own locking orders the two writers.
    pub fn open_beside(data_dir: &Path) -> Result<Self, ConfigError> {
        let path = data_dir.join(FILE);
        if !path.is_file() {
            return Err(data_dir_error(format!(
                "{} does not exist: no embedded store here (set HOP_DATA_DIR to hop up's)",
                path.display()
            )));
        }
        Self::start(path, None)
    }

    fn start(path: PathBuf, lock: Option<std::fs::File>) -> Result<Self, ConfigError> {
        let writer = open_writer(&path)?;
        let (jobs, queue) = mpsc::channel::<Job>(MAX_BATCH * 4);
        let health = StoreHealth::new();
        let reported = health.clone();
        std::thread::Builder::new()
            .name("hop-sqlite-writer".into())
            .spawn(move || write_loop(writer, queue, reported))
            .map_err(|e| data_dir_error(format!("cannot start the sqlite writer: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                _lock: lock,
                health,
                jobs,
                readers: Mutex::new(Vec::new()),
                slots: Arc::new(Semaphore::new(READERS)),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The writer's gauges, for a service's registry.
    pub fn health(&self) -> &StoreHealth {
        &self.inner.health
    }

    /// Runs `work` in the writer's next batch; its result once that batch is committed.
    /// When `work` fails, what it wrote is undone and the error returned; the rest of the
    /// batch commits.
    pub async fn write<T, F>(&self, work: F) -> Result<T, SqliteError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, SqliteError> + Send + 'static,
    {
        let (done, answer) = oneshot::channel::<Result<T, SqliteError>>();
        let job: Job = Box::new(move |connection| {
            let result = match connection {
                Ok(connection) => std::panic::catch_unwind(AssertUnwindSafe(|| work(connection)))
                    .unwrap_or(Err(SqliteError::Panicked)),
                Err(failure) => Err(failure.error()),
            };
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit_failed| {
                let result = match commit_failed {
                    Some(failure) if ok => Err(failure.error()),
                    _ => result,
                };
                let _ = done.send(result);
            });
            (ok, reply)
        });
        self.inner
            .jobs
            .send(job)
            .await
            .map_err(|_| SqliteError::Closed)?;
        let result = answer.await.map_err(|_| SqliteError::Closed)?;
        if let Err(e) = &result
            && e.is_full()
        {
            self.inner.health.full.set(1);
        }
        result
    }

    /// Runs `work` on a read-only connection. It sees every write committed before it
    /// started.
    pub async fn read<T, F>(&self, work: F) -> Result<T, SqliteError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, SqliteError> + Send + 'static,
    {
        let _slot = self
            .inner
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SqliteError::Closed)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let connection = inner.reader()?;
            let result = work(&connection);
            inner.give_back(connection);
            result
        })
        .await
        .map_err(|_| SqliteError::Panicked)?
    }

    /// Runs a point read (a lookup by key, microseconds on a warm file) on the calling
    /// thread, skipping the blocking pool's hand-off that [`Self::read`] pays: for the
    /// redirect path's lookups, where that hand-off costs more than the read. Anything that
    /// scans belongs in [`Self::read`].
    pub fn read_now<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, SqliteError>,
    ) -> Result<T, SqliteError> {
        let connection = self.inner.reader()?;
        let result = work(&connection);
        self.inner.give_back(connection);
        result
    }

    /// Whether the file answers a read.
    pub async fn ping(&self) -> Result<(), String> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM link_ids", [], |r| r.get::<_, i64>(0))?))
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Copies the whole database, consistent as of one moment, to `target` (SQLite's online
    /// backup: writes go on meanwhile). Refuses to overwrite an existing file.
    pub async fn backup(&self, target: &Path) -> Result<(), SqliteError> {
        let target = target.to_owned();
        self.read(move |source| copy(source, &target)).await
    }
}

/// Copies the embedded store of `data_dir` to `target` (a new file, mode 0600: it holds
/// password hashes), consistent as of one moment, while a `hop up` may be writing to it.
pub fn backup(data_dir: &Path, target: &Path) -> Result<(), ConfigError> {
    let path = data_dir.join(FILE);
    if !path.is_file() {
        return Err(data_dir_error(format!(
            "{} does not exist: no embedded store to back up here",
            path.display()
        )));
    }
    let source = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.busy_timeout(BUSY_TIMEOUT).map(|()| c))
        .map_err(|e| data_dir_error(format!("{}: cannot be opened: {e}", path.display())))?;
    let application: i32 = source
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| data_dir_error(format!("{}: {e}", path.display())))?;
    if application != APPLICATION_ID {
        return Err(data_dir_error(format!(
            "{} is not a hop database",
            path.display()
        )));
    }
    copy(&source, target).map_err(|e| {
        ConfigError::new(
            "FILE",
            format!("{}: the backup failed: {e}", target.display()),
        )
    })
}

fn copy(source: &Connection, target: &Path) -> Result<(), SqliteError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    // create_new: never overwrite; 0600 before a byte is written.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(target)
        .map_err(|e| SqliteError::Io(e.to_string()))?;
    let copied = (|| {
        let mut copy = Connection::open(target)?;
        let backup = rusqlite::backup::Backup::new(source, &mut copy)?;
        backup.run_to_completion(1024, Duration::from_millis(0), None)
    })();
    if copied.is_err() {
        let _ = std::fs::remove_file(target); // never leave half a copy
    }
    Ok(copied?)
}

/// Takes the directory's lock, or says who holds it.
fn lock_dir(data_dir: &Path) -> Result<std::fs::File, ConfigError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = data_dir.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| data_dir_error(format!("{} cannot be created: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(data_dir_error(format!(
            "{} is in use by another hop process: stop it first, or set HOP_DATA_DIR elsewhere",
            data_dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(data_dir_error(format!(
            "{} cannot be locked: {e}",
            path.display()
        ))),
    }
}

impl Inner {
    fn reader(&self) -> Result<Connection, SqliteError> {
        if let Some(connection) = lock(&self.readers).pop() {
            return Ok(connection);
        }
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.set_prepared_statement_cache_capacity(64);
        Ok(connection)
    }

    fn give_back(&self, connection: Connection) {
        let mut readers = lock(&self.readers);
        if readers.len() < READERS {
            readers.push(connection);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Creates the file owner-only before SQLite opens it (SQLite gives its `-wal` and `-shm`
/// files the database file's permissions).
fn create_file(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(data_dir_error(format!(
            "{} cannot be created: {e} (make the directory writable by this user, or set HOP_DATA_DIR elsewhere)",
            path.display()
        ))),
    }
}

/// The read-write connection: WAL, a full sync on every commit, foreign keys on, and the
/// schema brought up to date.
fn open_writer(path: &Path) -> Result<Connection, ConfigError> {
    let shown = path.display();
    let fail = |what: &str, e: rusqlite::Error| {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
            data_dir_error(format!(
                "{shown} is not a SQLite database: move it away (hop creates a new one) or set HOP_DATA_DIR elsewhere"
            ))
        } else {
            data_dir_error(format!("{shown}: {what}: {e}"))
        }
    };
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| fail("cannot be opened", e))?;
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| fail("cannot be configured", e))?;
    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| fail("cannot switch to WAL", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(data_dir_error(format!(
            "{shown}: the file system does not support WAL (journal mode {mode}); put HOP_DATA_DIR on a local disk"
        )));
    }
    connection
        .execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
        )
        .map_err(|e| fail("cannot be configured", e))?;
    connection.set_prepared_statement_cache_capacity(64);
    migrate(&connection, path)?;
    Ok(connection)
}

/// Applies the migrations this file lacks, each in its own transaction with the version it
/// brings.
fn migrate(connection: &Connection, path: &Path) -> Result<(), ConfigError> {
    let shown = path.display();
    let fail = |e: rusqlite::Error| data_dir_error(format!("{shown}: migrating: {e}"));
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(fail)?;
    let application: i32 = connection
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(fail)?;
    let tables: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(fail)?;
    if application != APPLICATION_ID && (application != 0 || tables > 0) {
        return Err(data_dir_error(format!(
            "{shown} is a SQLite database, but not hop's: move it away (hop creates a new one) or set HOP_DATA_DIR elsewhere"
        )));
    }
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(data_dir_error(format!(
            "{shown} was written by a newer hop (schema version {version}; this build knows up to {known}): run that version of hop or a later one"
        )));
    }
    for (at, (name, sql)) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let next = at as i64 + 1;
        connection
            .execute_batch(&format!(
                "BEGIN IMMEDIATE; {sql}; PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {next}; COMMIT;"
            ))
            .map_err(|e| {
                let _ = connection.execute_batch("ROLLBACK");
                data_dir_error(format!("{shown}: migration {name} failed: {e}"))
            })?;
        tracing::info!(path = %shown, migration = name, "sqlite_migrated");
    }
    Ok(())
}

/// The writer thread: every queued job in one transaction, one commit, then the answers.
fn write_loop(connection: Connection, mut queue: mpsc::Receiver<Job>, health: StoreHealth) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(&connection, batch.drain(..), &health);
    }
}

fn commit(connection: &Connection, jobs: impl Iterator<Item = Job>, health: &StoreHealth) {
    if let Err(e) = connection.execute_batch("BEGIN IMMEDIATE") {
        let failure = Failure::of(&e);
        health.failed(&failure);
        for job in jobs {
            let (_, reply) = job(Err(&failure));
            reply(Some(&failure));
        }
        return;
    }
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    // Set when SQLite itself rolled the transaction back (it may on a full disk or an I/O
    // error): every job of the batch is then lost, and the rest are not run.
    let mut lost: Option<Failure> = None;
    let mut any_ok = false;
    for job in jobs {
        if let Some(failure) = &lost {
            let (_, reply) = job(Err(failure));
            replies.push(reply);
            continue;
        }
        if let Err(e) = connection.execute_batch("SAVEPOINT job") {
            let failure = Failure::of(&e);
            let (_, reply) = job(Err(&failure));
            replies.push(reply);
            continue;
        }
        let (ok, reply) = job(Ok(connection));
        replies.push(reply);
        if connection.is_autocommit() {
            let failure = Failure {
                message: "sqlite rolled the transaction back".into(),
                full: !ok && probably_full(connection),
            };
            tracing::error!(error = %failure.message, full = failure.full, "sqlite_transaction_lost");
            lost = Some(failure);
            continue;
        }
        any_ok |= ok;
        let end = if ok {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        if let Err(e) = connection.execute_batch(end) {
            tracing::error!(error = %e, "sqlite_savepoint_failed");
        }
    }
    let failed = match lost {
        Some(failure) => Some(failure),
        None => match connection.execute_batch("COMMIT") {
            Ok(()) => None,
            Err(e) => {
                let failure = Failure::of(&e);
                tracing::error!(error = %e, full = failure.full, "sqlite_commit_failed");
                let _ = connection.execute_batch("ROLLBACK");
                Some(failure)
            }
        },
    };
    match &failed {
        Some(failure) => health.failed(failure),
        None if any_ok => health.committed(),
        None => {}
    }
    for reply in replies {
        reply(failed.as_ref());
    }
}

/// Whether the file system holding the store has no room left (asked after SQLite gave up
/// a transaction without saying why to this loop).
fn probably_full(connection: &Connection) -> bool {
    connection
        .execute_batch("BEGIN IMMEDIATE; CREATE TEMP TABLE IF NOT EXISTS hop_probe (x); ROLLBACK;")
        .is_err_and(|e| e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
}

/// What the writer reports: whether the disk is full, and how many batches failed.
#[derive(Clone)]
pub struct StoreHealth {
    full: prometheus::IntGauge,
    failed: prometheus::IntCounter,
}

impl StoreHealth {
    fn new() -> Self {
        Self {
            full: prometheus::IntGauge::new(
                "hop_sqlite_disk_full",
                "1 while writes to the embedded store fail because its disk is full",
            )
            .expect("a valid gauge"),
            failed: prometheus::IntCounter::new(
                "hop_sqlite_failed_commits_total",
                "Batches of writes to the embedded store that could not be committed",
            )
            .expect("a valid counter"),
        }
    }

    fn failed(&self, failure: &Failure) {
        self.failed.inc();
        if failure.full {
            if self.full.get() == 0 {
                tracing::error!(error = %failure.message, "sqlite_disk_full");
            }
            self.full.set(1);
        }
    }

    fn committed(&self) {
        if self.full.get() == 1 {
            tracing::info!("sqlite_disk_space_back");
        }
        self.full.set(0);
    }

    /// Registers the gauges in `registry` (each service of `hop up` registers them in its
    /// own, under its own `service` label).
    pub fn register(&self, registry: &prometheus::Registry) {
        let _ = registry.register(Box::new(self.full.clone()));
        let _ = registry.register(Box::new(self.failed.clone()));
    }
}

/// `t` in unix microseconds, as the embedded store keeps times.
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// A stored time back; out-of-range values (which hop never writes) clamp.
pub fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Now, in unix microseconds.
pub fn now_micros() -> i64 {
    micros(Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(db: &Connection) -> Result<i64, SqliteError> {
        Ok(db.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?)
    }

    fn insert(db: &Connection, email: &str) -> Result<(), SqliteError> {
        db.execute(
            "INSERT INTO users (email, created_at, updated_at) VALUES (?1, 0, 0)",
            [email],
        )?;
        Ok(())
    }

    #[tokio::test]
    async fn a_failing_job_undoes_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let db = Sqlite::open(dir.path()).unwrap();
        let (a, b, c) = tokio::join!(
            db.write(|c| insert(c, "a@x.io")),
            db.write(|c| {
                insert(c, "b@x.io")?;
                insert(c, "a@x.io") // taken: this job's first insert is undone too
            }),
            db.write(|c| insert(c, "c@x.io")),
        );
        assert!(a.is_ok() && c.is_ok());
        assert!(b.is_err());
        assert_eq!(db.read(count).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn reopening_keeps_the_data_and_the_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Sqlite::open(dir.path()).unwrap();
            db.write(|c| insert(c, "a@x.io")).await.unwrap();
        }
        let db = Sqlite::open(dir.path()).unwrap();
        assert_eq!(db.read(count).await.unwrap(), 1);
        let mode = std::fs::metadata(db.path()).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn foreign_and_newer_files_are_refused_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::fs::write(&path, b"this is not a database, it is a text file of some length....................................................................").unwrap();
        let e = Sqlite::open(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("is not a SQLite database") && e.contains(&*path.to_string_lossy()),
            "{e}"
        );

        std::fs::remove_file(&path).unwrap();
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let e = Sqlite::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not hop's"), "{e}");

        std::fs::remove_file(&path).unwrap();
        drop(Sqlite::open(dir.path()).unwrap());
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
        let e = Sqlite::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("newer hop") && e.contains("99"), "{e}");
    }

    #[tokio::test]
    async fn a_backup_is_a_hop_database_with_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = Sqlite::open(dir.path()).unwrap();
        db.write(|c| insert(c, "a@x.io")).await.unwrap();
        let copy = tempfile::tempdir().unwrap();
        db.backup(&copy.path().join(FILE)).await.unwrap();
        assert!(
            db.backup(&copy.path().join(FILE)).await.is_err(),
            "no overwrite"
        );
        let restored = Sqlite::open(copy.path()).unwrap();
        assert_eq!(restored.read(count).await.unwrap(), 1);
    }
}
