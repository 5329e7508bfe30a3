//! Trusted sources (issue 17): a slot may name the OS users and groups
//! allowed to use its token (`[[slot]] allow_os_users`, `allow_os_groups`).
//! Checked when the slot opens its token (C_Initialize, or the first use)
//! and at every login; a process run by anyone else gets
//! `CKR_ACTION_PROHIBITED` with a log line. Advisory: root, or anything
//! running as an allowed user (reading the store file, ptrace), gets past
//! it; it keeps honest neighbours on a shared host from using a token by
//! mistake, the seal (named users' PINs) is what protects keys.
//!
//! Owns: reading who this process runs as, from `/proc/self/status`,
//! `/etc/passwd` and `/etc/group` (no system call wrappers, no `unsafe`).

use crate::ck::CKR_ACTION_PROHIBITED;
use crate::config::SlotConfig;
use crate::error::{Error, Result};

/// Who this process runs as: the real and effective uid's names, and
/// every group (real, effective, supplementary) by name and number.
struct Identity {
    users: Vec<String>,
    groups: Vec<String>,
}

/// The ids on the `key:` line of /proc/self/status.
fn status_ids(status: &str, key: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|rest| rest.split_whitespace().filter_map(|v| v.parse().ok()).collect())
        .unwrap_or_default()
}

/// `name` for each id in `ids`, from a passwd/group style file (name in
/// field 0, id in field 2), and the id itself as text.
fn names(file: &str, ids: &[u32]) -> Vec<String> {
    let mut out: Vec<String> = ids.iter().map(u32::to_string).collect();
    for line in file.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 2 && f[2].parse::<u32>().is_ok_and(|id| ids.contains(&id)) {
            out.push(f[0].to_string());
        }
    }
    out
}

fn identity() -> Identity {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uids: Vec<u32> = status_ids(&status, "Uid:").into_iter().take(2).collect();
    let mut gids: Vec<u32> = status_ids(&status, "Gid:").into_iter().take(2).collect();
    gids.extend(status_ids(&status, "Groups:"));
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    Identity { users: names(&passwd, &uids), groups: names(&group, &gids) }
}

/// Whether this process may use the token of slot `sc`.
pub fn check_slot(slot: usize, sc: &SlotConfig) -> Result<()> {
    check(slot, &sc.allow_os_users, &sc.allow_os_groups)
}

/// Whether this process runs as one of `users` or in one of `groups`
/// (always, when both are empty: an unrestricted slot).
pub fn check(slot: usize, users: &[String], groups: &[String]) -> Result<()> {
    if users.is_empty() && groups.is_empty() {
        return Ok(());
    }
    let me = identity();
    let user_ok = me.users.iter().any(|u| users.contains(u));
    let group_ok = me.groups.iter().any(|g| groups.contains(g));
    if user_ok || group_ok {
        return Ok(());
    }
    let who = me.users.first().cloned().unwrap_or_else(|| "unknown".into());
    let e = Error::new(
        CKR_ACTION_PROHIBITED,
        format!(
            "slot {slot}: this process (user {}) is not among the slot's allow_os_users / allow_os_groups",
            me.users.get(1).map_or(who.clone(), |n| format!("{who} / {n}"))
        ),
    );
    log::warn!("{}", e.reason());
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_come_from_status_and_the_files() {
        let status = "Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\nGroups:\t27 100 4242\n";
        assert_eq!(status_ids(status, "Uid:"), vec![1000, 1000, 1000, 1000]);
        assert_eq!(status_ids(status, "Groups:"), vec![27, 100, 4242]);
        let group = "root:x:0:\nsudo:x:27:alice\nusers:x:100:\n";
        let n = names(group, &[27, 100, 4242]);
        for want in ["27", "100", "4242", "sudo", "users"] {
            assert!(n.iter().any(|g| g == want), "{want} in {n:?}");
        }
        assert!(!n.iter().any(|g| g == "root"));
    }

    #[test]
    fn an_unrestricted_slot_and_this_process_own_user_are_allowed() {
        let mut sc: SlotConfig = toml::from_str("path = \"/tmp/x\"").unwrap();
        check_slot(0, &sc).unwrap();
        sc.allow_os_users = vec!["no-such-user-here".into()];
        assert_eq!(check_slot(0, &sc).unwrap_err().rv(), CKR_ACTION_PROHIBITED);
        sc.allow_os_users.push(identity().users[0].clone());
        check_slot(0, &sc).unwrap();
        sc.allow_os_users = vec!["no-such-user-here".into()];
        sc.allow_os_groups = vec![identity().groups[0].clone()];
        check_slot(0, &sc).unwrap();
    }
}
