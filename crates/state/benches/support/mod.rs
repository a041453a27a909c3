//! What the PostgreSQL benches share: the database URL they use, the connection with a time
//! limit that lets them skip when no server answers, and the throwaway schema each run works
//! in. Must not hold anything one bench measures.

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// `TASKER_BENCH_DATABASE_URL`, else `TASKER_TEST_DATABASE_URL`, else the local server's
/// `test` database.
pub fn database_url() -> String {
    std::env::var("TASKER_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("TASKER_TEST_DATABASE_URL"))
        .unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

/// A connection, or why there is none: a bench without a server skips instead of hanging.
async fn connect(url: &str) -> Result<PgConnection, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

/// A bench's life around its schema: connects to `url` (or calls `skip` with why not, and
/// returns), creates a schema named after `prefix`, runs `run` against it, drops it (also
/// when `run` panics) and prints the line `run` returns.
pub fn in_fresh_schema(
    url: &str,
    prefix: &str,
    bench: &'static str,
    skip: impl FnOnce(String),
    run: impl FnOnce(&tokio::runtime::Runtime, &Schema) -> BenchResult<String>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let conn = match rt.block_on(connect(url)) {
        Ok(conn) => conn,
        Err(why) => return skip(why),
    };
    let schema = rt
        .block_on(Schema::create(conn, url, prefix, bench))
        .expect("create the bench schema");
    let outcome = run(&rt, &schema);
    rt.block_on(schema.drop_now());
    match outcome {
        Ok(line) => println!("{line}"),
        Err(e) => panic!("{bench} bench failed: {e}"),
    }
}

/// A schema of this run's own; its URL points `search_path` at it. Dropped by
/// [`Schema::drop_now`], or by `Drop` from a fresh connection if the bench panics first.
pub struct Schema {
    name: String,
    base_url: String,
    pub url: String,
    /// The bench's name, for messages.
    bench: &'static str,
    dropped: bool,
}

impl Schema {
    /// A schema named `<prefix>_<pid>_<nanos>`, so that runs never meet.
    async fn create(
        mut conn: PgConnection,
        base_url: &str,
        prefix: &str,
        bench: &'static str,
    ) -> BenchResult<Schema> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!("{prefix}_{}_{nanos}", std::process::id());
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let joiner = if base_url.contains('?') { '&' } else { '?' };
        Ok(Schema {
            url: format!("{base_url}{joiner}options=-c%20search_path%3D{name}"),
            base_url: base_url.to_string(),
            name,
            bench,
            dropped: false,
        })
    }

    async fn drop_now(mut self) {
        match drop_schema(&self.base_url, &self.name).await {
            Ok(()) => self.dropped = true,
            Err(e) => eprintln!("{}: dropping schema {}: {e}", self.bench, self.name),
        }
    }
}

async fn drop_schema(url: &str, name: &str) -> BenchResult<()> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{name}\" CASCADE")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

impl Drop for Schema {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (url, name) = (self.base_url.clone(), self.name.clone());
        // A thread of its own: this may run while the bench's runtime is unwinding.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(drop_schema(&url, &name)).ok()
        })
        .join();
    }
}
