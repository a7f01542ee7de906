//! Connections to PostgreSQL for the store's blocking calls: a few threads, each owning one
//! connection, take jobs from a shared queue.
//!
//! The store's engine seam is synchronous (the embedded engine answers from memory-mapped
//! pages), and its callers run on Tokio's threads, where a blocking client cannot start its own
//! runtime. So each connection lives on a thread of its own and a caller hands it a closure and
//! waits for the answer. A connection that broke is opened again for the next job; one that
//! cannot be opened fails that job with the reason, so nothing waits forever on a database that
//! went away.

use crate::{Error, Result};
use parking_lot::Mutex;
use postgres::{Client, Config, NoTls, Statement};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// Connections kept open, at most: enough for the group committer, a scan and the host's
/// lookups to overlap, few enough to leave a shared database room for several instances.
const CONNECTIONS: usize = 4;

/// How long opening a connection may take before the job fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce(Result<&mut Connection>) + Send>;

/// A pool thread's connection, with the statements prepared on it.
pub(super) struct Connection {
    pub client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Connection {
    /// `sql` prepared on this connection, once: the hot path's statements then cost one round
    /// trip each instead of two (parse, then execute).
    pub(super) fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement =
            (self.client.prepare(sql)).map_err(|e| Error::storage("preparing a statement", e))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }
}

pub(super) struct Pool {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Pool {
    /// Starts the connection threads; connections open on first use.
    pub(super) fn start(config: &Config) -> Result<Pool> {
        let mut config = config.clone();
        config.application_name("switchyard");
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut threads = Vec::with_capacity(CONNECTIONS);
        for n in 0..CONNECTIONS {
            let (queue, config) = (queue.clone(), config.clone());
            let thread = std::thread::Builder::new()
                .name(format!("store-pg-{n}"))
                .spawn(move || {
                    let mut connection: Option<Connection> = None;
                    loop {
                        let job = queue.lock().recv();
                        let Ok(job) = job else { return };
                        if connection.as_ref().is_none_or(|c| c.client.is_closed()) {
                            connection = None;
                            match connect(&config) {
                                Ok(client) => {
                                    let statements = HashMap::new();
                                    connection = Some(Connection { client, statements });
                                }
                                Err(e) => {
                                    job(Err(e));
                                    continue;
                                }
                            }
                        }
                        job(connection.as_mut().ok_or(Error::Closing));
                    }
                })
                .map_err(|e| Error::storage("starting the PostgreSQL threads", e))?;
            threads.push(thread);
        }
        Ok(Pool {
            jobs: Mutex::new(Some(jobs)),
            threads: Mutex::new(threads),
        })
    }

    /// Runs `job` on a connection and waits for its answer.
    pub(super) fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.run_on(move |connection| job(&mut connection.client))
    }

    /// Runs `job` on a connection with its prepared statements and waits for its answer.
    pub(super) fn run_on<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (answer, answered) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |client| {
            let _ = answer.send(client.and_then(job));
        });
        let sent = match &*self.jobs.lock() {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(Error::Closing);
        }
        answered.recv().map_err(|_| Error::Closing)?
    }
}

impl Drop for Pool {
    /// Closes the connections: each thread ends once the queue is closed and empty.
    fn drop(&mut self) {
        self.jobs.lock().take();
        for thread in self.threads.lock().drain(..) {
            let _ = thread.join();
        }
    }
}

/// Opens a connection with the settings every one needs: commits durable before they return,
/// whatever the server's default, and plans made for each query's values, so a filter meets
/// the partial index of its tenant and type.
pub(super) fn connect(config: &Config) -> Result<Client> {
    let doing = "connecting to PostgreSQL";
    let mut config = config.clone();
    config.connect_timeout(CONNECT_TIMEOUT);
    let mut client = config
        .connect(NoTls)
        .map_err(|e| Error::storage(doing, e))?;
    let settings = "SET synchronous_commit = on; SET plan_cache_mode = force_custom_plan";
    (client.batch_execute(settings)).map_err(|e| Error::storage(doing, e))?;
    Ok(client)
}
