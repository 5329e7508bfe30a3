//! The SQL of the per-role statements of the token row (the SO's and the
//! user's PIN failures and wrapped token key), one table for both backends:
//! column names cannot be parameters, so each role has its own statements,
//! and the backends differ only in how a numbered parameter is written
//! (`?1` in SQLite, `$1` in PostgreSQL).
//!
//! Owns: these statements. Must not touch: running them (each backend's
//! `tx.rs`), the schema (each backend's `schema.rs`).

use super::Role;

/// The per-role statements of one backend.
pub(super) struct RoleSql {
    pub select_failures: &'static str,
    pub reset_failures: &'static str,
    pub add_failure: &'static str,
    pub set_key: &'static str,
    pub replace_key: &'static str,
}

/// The statements of role `$r` (the column prefix) with parameter marker `$p`.
macro_rules! role_sql {
    ($r:literal, $p:literal) => {
        RoleSql {
            select_failures: concat!("SELECT ", $r, "_failures FROM token WHERE id = 1"),
            reset_failures: concat!("UPDATE token SET ", $r, "_failures = 0 WHERE id = 1 AND ", $r, "_failures != 0"),
            add_failure: concat!(
                "UPDATE token SET ",
                $r,
                "_failures = ",
                $r,
                "_failures + 1 WHERE id = 1 RETURNING ",
                $r,
                "_failures"
            ),
            set_key: concat!(
                "UPDATE token SET ",
                $r,
                "_salt = ",
                $p,
                "1, ",
                $r,
                "_iter = ",
                $p,
                "2, ",
                $r,
                "_blob = ",
                $p,
                "3, ",
                $r,
                "_failures = 0 WHERE id = 1"
            ),
            replace_key: concat!(
                "UPDATE token SET ",
                $r,
                "_salt = ",
                $p,
                "4, ",
                $r,
                "_iter = ",
                $p,
                "5, ",
                $r,
                "_blob = ",
                $p,
                "6 ",
                "WHERE id = 1 AND ",
                $r,
                "_salt = ",
                $p,
                "1 AND ",
                $r,
                "_iter = ",
                $p,
                "2 AND ",
                $r,
                "_blob = ",
                $p,
                "3"
            ),
        }
    };
}

/// SQLite's statements for `role` (`?N` parameters).
pub(super) fn sqlite(role: Role) -> &'static RoleSql {
    const SO: RoleSql = role_sql!("so", "?");
    const USER: RoleSql = role_sql!("user", "?");
    match role {
        Role::So => &SO,
        Role::User => &USER,
    }
}

/// PostgreSQL's statements for `role` (`$N` parameters).
pub(super) fn postgres(role: Role) -> &'static RoleSql {
    const SO: RoleSql = role_sql!("so", "$");
    const USER: RoleSql = role_sql!("user", "$");
    match role {
        Role::So => &SO,
        Role::User => &USER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements as the backends wrote them before they shared this
    /// table, letter for letter.
    #[test]
    fn the_statements_of_both_backends() {
        let s = sqlite(Role::So);
        assert_eq!(s.select_failures, "SELECT so_failures FROM token WHERE id = 1");
        assert_eq!(s.reset_failures, "UPDATE token SET so_failures = 0 WHERE id = 1 AND so_failures != 0");
        assert_eq!(s.add_failure, "UPDATE token SET so_failures = so_failures + 1 WHERE id = 1 RETURNING so_failures");
        assert_eq!(
            s.set_key,
            "UPDATE token SET so_salt = ?1, so_iter = ?2, so_blob = ?3, so_failures = 0 WHERE id = 1"
        );
        assert_eq!(
            s.replace_key,
            "UPDATE token SET so_salt = ?4, so_iter = ?5, so_blob = ?6 \
             WHERE id = 1 AND so_salt = ?1 AND so_iter = ?2 AND so_blob = ?3"
        );
        let p = postgres(Role::User);
        assert_eq!(
            p.set_key,
            "UPDATE token SET user_salt = $1, user_iter = $2, user_blob = $3, user_failures = 0 WHERE id = 1"
        );
        assert_eq!(
            p.replace_key,
            "UPDATE token SET user_salt = $4, user_iter = $5, user_blob = $6 \
             WHERE id = 1 AND user_salt = $1 AND user_iter = $2 AND user_blob = $3"
        );
        assert_eq!(
            p.add_failure,
            "UPDATE token SET user_failures = user_failures + 1 WHERE id = 1 RETURNING user_failures"
        );
    }
}
