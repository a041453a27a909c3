//! `register_template` on the SQL stores with a template of 10,000 steps: the named rows it
//! writes set-based, that registering again changes nothing, that two stores registering
//! the same template at once both succeed without duplicating a row, that a template
//! rejected for one of its steps registers nothing, and that named rows another writer
//! (Tasker) stored first are reused as they are.

#[macro_use]
mod conformance;

use conformance::db::Db;
use conformance::{run, SqliteFile};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::sync::Arc;
use tasker_model::TaskTemplate;
use tasker_state::Store;

const STEPS: usize = 10_000;

/// A chain of `STEPS` steps spread over three dependent systems, every fifth one skippable,
/// retry limits 0..7, descriptions on every other step. `suffix` names the task; the step
/// names are shared by every suffix (so two templates share their named steps).
fn big_template(suffix: &str, bad_step: Option<usize>) -> TaskTemplate {
    template_of(suffix, STEPS, bad_step)
}

/// [`big_template`] with `steps` steps.
fn template_of(suffix: &str, steps: usize, bad_step: Option<usize>) -> TaskTemplate {
    let mut yaml = format!(
        "name: big_{suffix}\nnamespace_name: register\nversion: 1.0.0\n\
         default_dependent_system: warehouse\nstep_templates:\n"
    );
    for i in 0..steps {
        let name = if bad_step == Some(i) {
            "x".repeat(129)
        } else {
            format!("step_{i}")
        };
        yaml.push_str(&format!(
            "  - name: {name}\n    handler_class: Register::Step\n    default_retry_limit: {}\n",
            i % 7
        ));
        if i % 3 == 1 {
            yaml.push_str("    dependent_system: payments\n");
        } else if i % 3 == 2 {
            yaml.push_str("    dependent_system: shipping\n");
        }
        if i.is_multiple_of(5) {
            yaml.push_str("    skippable: true\n");
        }
        if i.is_multiple_of(2) {
            yaml.push_str(&format!("    description: the step number {i}\n"));
        }
        if i > 0 {
            yaml.push_str(&format!("    depends_on_steps: [step_{}]\n", i - 1));
        }
    }
    TaskTemplate::from_yaml(&yaml, &format!("big_{suffix}.yaml")).expect("valid template")
}

/// What the tables hold, one line each: row counts, then every link of every named task
/// with its step's system and defaults, in link order. Ids are included (so a rewrite or a
/// new row shows).
const SUMMARY: &str = "\
    SELECT 'namespaces ' || COUNT(*) FROM tasker_task_namespaces \
    UNION ALL SELECT 'systems ' || COUNT(*) FROM tasker_dependent_systems \
    UNION ALL SELECT 'named tasks ' || COUNT(*) FROM tasker_named_tasks \
    UNION ALL SELECT 'named steps ' || COUNT(*) FROM tasker_named_steps \
    UNION ALL SELECT 'links ' || COUNT(*) FROM tasker_named_tasks_named_steps";

const LINKS: &str = "\
    SELECT nt.name || ' ' || nn.id || ' ' || st.named_step_id || ' ' || st.name || ' ' || \
           ds.name || ' ' || COALESCE(st.description, '-') || ' ' || \
           CASE WHEN nn.skippable THEN 1 ELSE 0 END || \
           CASE WHEN nn.default_retryable THEN 1 ELSE 0 END || ' ' || nn.default_retry_limit \
    FROM tasker_named_tasks_named_steps nn \
    JOIN tasker_named_tasks nt ON nt.named_task_id = nn.named_task_id \
    JOIN tasker_named_steps st ON st.named_step_id = nn.named_step_id \
    JOIN tasker_dependent_systems ds ON ds.dependent_system_id = st.dependent_system_id \
    ORDER BY nn.id";

fn texts(db: &Db, sql: &str) -> Vec<String> {
    match db {
        Db::Postgres(schema) => schema.texts(sql),
        Db::Sqlite(file) => run(sqlite_texts(file, sql)),
        Db::Memory(_) => unreachable!("SQL stores only"),
    }
}

async fn sqlite_texts(file: &SqliteFile, sql: &str) -> Vec<String> {
    let mut conn = file.connect_read_only().await.expect("open the file");
    let rows = sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
        .fetch_all(&mut conn)
        .await
        .expect("query the file");
    conn.close().await.expect("close");
    rows
}

/// Runs `sql` (statements separated by `;`) on the test's database.
fn execute(db: &Db, sql: &str) {
    let sql = sql.to_string();
    let done = match db {
        Db::Postgres(schema) => {
            let url = schema.url();
            run(async move {
                let mut conn = PgConnection::connect(&url).await?;
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await?;
                conn.close().await
            })
        }
        Db::Sqlite(file) => run(async move {
            let mut conn = file.connect().await?;
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await?;
            conn.close().await
        }),
        Db::Memory(_) => unreachable!("SQL stores only"),
    };
    done.expect("statements on the test database");
}

/// The link line [`LINKS`] gives step `i` of the big template (ids left out).
fn expected_link(task: &str, i: usize) -> String {
    let system = ["warehouse", "payments", "shipping"][i % 3];
    let description = if i.is_multiple_of(2) {
        format!("the step number {i}")
    } else {
        "-".to_string()
    };
    let skippable = u8::from(i.is_multiple_of(5));
    format!(
        "big_{task} step_{i} {system} {description} {skippable}1 {}",
        i % 7
    )
}

/// A [`LINKS`] line without its two ids.
fn without_ids(line: &str) -> String {
    let mut parts = line.splitn(4, ' ');
    let task = parts.next().unwrap_or_default();
    let (_link, _step) = (parts.next(), parts.next());
    format!("{task} {}", parts.next().unwrap_or_default())
}

suite!(sql: registers_10000_steps_once, concurrent_registrations, tasker_rows_win, chunk_edges);

fn registers_10000_steps_once(db: &Db) {
    let store = db.open();
    let first = big_template("a", None);
    store.register_template(&first).expect("register");
    let summary = texts(db, SUMMARY);
    assert_eq!(
        summary,
        [
            "namespaces 1",
            "systems 3",
            "named tasks 1",
            "named steps 10000",
            "links 10000"
        ]
    );
    let links = texts(db, LINKS);
    let expected: Vec<String> = (0..STEPS).map(|i| expected_link("a", i)).collect();
    assert_eq!(
        links.iter().map(|l| without_ids(l)).collect::<Vec<_>>(),
        expected
    );

    // Again, from this store and from a fresh one (no cache): nothing changes, ids included.
    store.register_template(&first).expect("register again");
    drop(store);
    db.open().register_template(&first).expect("register again");
    assert_eq!(texts(db, SUMMARY), summary);
    assert_eq!(texts(db, LINKS), links);

    // A second template with the same step names reuses the named steps and adds its links.
    let store = db.open();
    store
        .register_template(&big_template("b", None))
        .expect("register a second template");
    assert_eq!(
        texts(db, SUMMARY),
        [
            "namespaces 1",
            "systems 3",
            "named tasks 2",
            "named steps 10000",
            "links 20000"
        ]
    );
    let all = texts(db, LINKS);
    assert_eq!(all[..STEPS], links[..]);
    let step_ids = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .map(|l| l.split(' ').nth(2).unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(step_ids(&all[STEPS..]), step_ids(&links));

    // A template refused for its last step writes nothing.
    let refused = store
        .register_template(&big_template("c", Some(STEPS - 1)))
        .expect_err("a step name over 128 characters is refused");
    assert!(refused.to_string().contains("step name"), "{refused}");
    assert_eq!(texts(db, SUMMARY)[2], "named tasks 2");
    assert_eq!(texts(db, SUMMARY)[4], "links 20000");
}

/// Two stores (two processes' worth of connections) register the same big template at the
/// same moment: both succeed, and every row exists once.
fn concurrent_registrations(db: &Db) {
    let template = Arc::new(big_template("racing", None));
    let stores: Vec<Arc<dyn Store>> = (0..2).map(|_| db.open()).collect();
    let barrier = Arc::new(std::sync::Barrier::new(stores.len()));
    let racers: Vec<_> = stores
        .into_iter()
        .map(|store| {
            let (template, barrier) = (template.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store.register_template(&template)
            })
        })
        .collect();
    for racer in racers {
        racer
            .join()
            .expect("no panic")
            .expect("both registrations succeed");
    }
    assert_eq!(
        texts(db, SUMMARY),
        [
            "namespaces 1",
            "systems 3",
            "named tasks 1",
            "named steps 10000",
            "links 10000"
        ]
    );
}

/// Named rows Tasker stored before the template was registered (here two named steps of
/// its own, with their own descriptions and timestamps) are reused as they are: neither
/// rewritten nor duplicated, and the links point at them. 2,345 steps: more than one
/// statement's worth of rows, the last one not full.
fn tasker_rows_win(db: &Db) {
    let store = db.open();
    execute(
        db,
        "INSERT INTO tasker_dependent_systems (name, created_at, updated_at) \
         VALUES ('warehouse', '2001-02-03 04:05:06', '2001-02-03 04:05:06'), \
                ('payments', '2001-02-03 04:05:06', '2001-02-03 04:05:06'); \
         INSERT INTO tasker_named_steps \
           (dependent_system_id, name, description, created_at, updated_at) \
         SELECT dependent_system_id, CASE name WHEN 'warehouse' THEN 'step_3' \
                                               ELSE 'step_1501' END, \
                'written by Tasker', '2001-02-03 04:05:06', '2001-02-03 04:05:06' \
         FROM tasker_dependent_systems",
    );
    const TASKER_ROWS: &str = "SELECT named_step_id || ' ' || name || ' ' || description \
                               || ' ' || created_at || ' ' || updated_at \
                               FROM tasker_named_steps \
                               WHERE description = 'written by Tasker' ORDER BY name";
    let tasker_rows = texts(db, TASKER_ROWS);
    assert_eq!(tasker_rows.len(), 2, "{tasker_rows:?}");

    let steps = 2_345;
    store
        .register_template(&template_of("t", steps, None))
        .expect("register");
    assert_eq!(
        texts(db, TASKER_ROWS),
        tasker_rows,
        "Tasker's rows untouched"
    );
    assert_eq!(
        texts(db, SUMMARY),
        [
            "namespaces 1",
            "systems 3",
            "named tasks 1",
            &format!("named steps {steps}"),
            &format!("links {steps}"),
        ]
    );
    let links = texts(db, LINKS);
    let expected: Vec<String> = (0..steps)
        .map(|i| match i {
            3 => "big_t step_3 warehouse written by Tasker 01 3".to_string(),
            1501 => "big_t step_1501 payments written by Tasker 01 3".to_string(),
            _ => expected_link("t", i),
        })
        .collect();
    assert_eq!(
        links.iter().map(|l| without_ids(l)).collect::<Vec<_>>(),
        expected
    );
    // The links of Tasker's two steps point at Tasker's rows.
    let tasker_ids: Vec<&str> = tasker_rows
        .iter()
        .map(|r| r.split(' ').next().unwrap_or_default())
        .collect();
    let linked = |i: usize| links[i].split(' ').nth(2).unwrap_or_default().to_string();
    assert_eq!([linked(1501), linked(3)], [tasker_ids[0], tasker_ids[1]]);
}

/// The edges of SQLite's 1,000-row statements (`sqlite/sql.rs`): exactly one full statement,
/// then one full and one holding a single row among 999 padding rows, each registered twice.
/// Every row is written once, the padding never.
fn chunk_edges(db: &Db) {
    let store = db.open();
    let mut steps_so_far = 0;
    for (name, steps) in [("full", 1_000), ("one_over", 1_001)] {
        let template = template_of(name, steps, None);
        store.register_template(&template).expect("register");
        store.register_template(&template).expect("register again");
        // Both templates name their steps step_0 …: the second reuses the first's 1,000.
        steps_so_far = steps_so_far.max(steps);
        let links = texts(db, LINKS);
        let mine: Vec<String> = links
            .iter()
            .map(|l| without_ids(l))
            .filter(|l| l.starts_with(&format!("big_{name} ")))
            .collect();
        let expected: Vec<String> = (0..steps).map(|i| expected_link(name, i)).collect();
        assert_eq!(mine, expected, "{name}");
        assert_eq!(
            texts(db, SUMMARY)[3],
            format!("named steps {steps_so_far}"),
            "{name}"
        );
    }
    assert_eq!(texts(db, SUMMARY)[4], "links 2001");
}
