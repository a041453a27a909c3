//! SQLite's C API as crates/state/benches/ceiling.rs drives it: a connection, prepared
//! statements stepped in a loop, and a transitions insert. The library is the one sqlx links
//! (libsqlite3-sys). Holds no timing and no knowledge of the rows a round writes.

use super::{BenchResult, Transition};
use std::ffi::{CStr, CString};

/// An SQLite connection through the C API.
pub struct Db(*mut libsqlite3_sys::sqlite3);

/// A prepared statement of a [`Db`]; finalized on drop.
pub struct Stmt<'db> {
    pub raw: *mut libsqlite3_sys::sqlite3_stmt,
    db: &'db Db,
}

impl Db {
    pub fn open(path: &std::path::Path) -> BenchResult<Db> {
        let path = CString::new(path.to_str().ok_or("a UTF-8 path")?)?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: a NUL-terminated path and an out pointer; the handle is closed in Drop.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_open_v2(
                path.as_ptr(),
                &mut raw,
                libsqlite3_sys::SQLITE_OPEN_READWRITE,
                std::ptr::null(),
            )
        };
        let db = Db(raw);
        if rc != libsqlite3_sys::SQLITE_OK {
            return Err(db.error("open").into());
        }
        Ok(db)
    }

    pub fn error(&self, what: &str) -> String {
        // SAFETY: the handle is open; sqlite3_errmsg returns a NUL-terminated string it owns.
        let msg = unsafe { CStr::from_ptr(libsqlite3_sys::sqlite3_errmsg(self.0)) };
        format!("{what}: {}", msg.to_string_lossy())
    }

    pub fn exec(&self, sql: &str) -> BenchResult<()> {
        let c = CString::new(sql)?;
        // SAFETY: the handle is open and the SQL NUL-terminated; no callback.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_exec(
                self.0,
                c.as_ptr(),
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            return Err(self.error(sql).into());
        }
        Ok(())
    }

    pub fn prepare(&self, sql: &str) -> BenchResult<Stmt<'_>> {
        let c = CString::new(sql)?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: the handle is open, the SQL NUL-terminated (-1: read to the NUL).
        let rc = unsafe {
            libsqlite3_sys::sqlite3_prepare_v2(
                self.0,
                c.as_ptr(),
                -1,
                &mut raw,
                std::ptr::null_mut(),
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            return Err(self.error(sql).into());
        }
        Ok(Stmt { raw, db: self })
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // SAFETY: every statement borrowed the Db and was finalized before this runs.
        unsafe { libsqlite3_sys::sqlite3_close(self.0) };
    }
}

/// A value to bind.
pub enum V<'a> {
    I(i64),
    T(&'a str),
}

impl Stmt<'_> {
    /// Binds `values` to ?1, ?2, …, steps the statement to its end and resets it.
    pub fn run(&mut self, values: &[V<'_>]) -> BenchResult<()> {
        for (i, v) in values.iter().enumerate() {
            let at = i as std::ffi::c_int + 1;
            // SAFETY: a live statement; text is copied by SQLite (SQLITE_TRANSIENT).
            let rc = unsafe {
                match v {
                    V::I(n) => libsqlite3_sys::sqlite3_bind_int64(self.raw, at, *n),
                    V::T(s) => libsqlite3_sys::sqlite3_bind_text(
                        self.raw,
                        at,
                        s.as_ptr().cast(),
                        s.len() as std::ffi::c_int,
                        libsqlite3_sys::SQLITE_TRANSIENT(),
                    ),
                }
            };
            if rc != libsqlite3_sys::SQLITE_OK {
                return Err(self.db.error("bind").into());
            }
        }
        // SAFETY: a live statement with its parameters bound.
        let rc = unsafe { libsqlite3_sys::sqlite3_step(self.raw) };
        // SAFETY: as above; a reset keeps the bindings, which the next run overwrites.
        unsafe { libsqlite3_sys::sqlite3_reset(self.raw) };
        if rc != libsqlite3_sys::SQLITE_DONE {
            return Err(self.db.error("step").into());
        }
        Ok(())
    }

    /// Runs this transitions insert (to, from, metadata, sort_key, most_recent, owner, at)
    /// once for each of `history`, all owned by `owner` and written at `now`.
    pub fn insert_history(
        &mut self,
        history: &[Transition],
        owner: i64,
        now: &str,
    ) -> BenchResult<()> {
        for (to, from, key, recent, meta) in history {
            self.run(&[
                V::T(to),
                V::T(from),
                V::T(meta),
                V::I(i64::from(*key)),
                V::I(i64::from(*recent)),
                V::I(owner),
                V::T(now),
            ])?;
        }
        Ok(())
    }
}

impl Drop for Stmt<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement was prepared on a Db that outlives it.
        unsafe { libsqlite3_sys::sqlite3_finalize(self.raw) };
    }
}

impl Db {
    /// The first column of every row `sql` returns, as text.
    pub fn strings(&self, sql: &str) -> BenchResult<Vec<String>> {
        let q = self.prepare(sql)?;
        let mut out = Vec::new();
        // SAFETY: a live statement, stepped until it has no more rows; column 0 exists and
        // its text is copied before the next step.
        unsafe {
            while libsqlite3_sys::sqlite3_step(q.raw) == libsqlite3_sys::SQLITE_ROW {
                let text = libsqlite3_sys::sqlite3_column_text(q.raw, 0);
                if !text.is_null() {
                    out.push(CStr::from_ptr(text.cast()).to_string_lossy().into_owned());
                }
            }
        }
        Ok(out)
    }
}
