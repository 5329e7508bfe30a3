//! The principal and grant tables (`store::principals`) on either backend.

use super::super::principals::{PRINCIPAL_DEFAULT, PRINCIPAL_SO};
use super::super::*;
use super::{Place, so_key};

/// An id that is not reserved: the store assigns one.
const NEW: i64 = 1000;

fn principal(id: i64, name: &str) -> PrincipalRow {
    PrincipalRow {
        id,
        name: name.into(),
        roles: 1,
        record: format!("record of {name}").into_bytes(),
        record_sig: vec![7; 64],
        pin: (id > PRINCIPAL_DEFAULT).then(|| PinSalt { salt: vec![id as u8; 16], iterations: 1000 }),
        secret: vec![9; 80],
        locked: false,
        failures: 0,
        totp_last_step: 0,
    }
}

fn grant(key_id: &[u8], principal: i64, ops: u32) -> GrantRow {
    GrantRow { key_id: key_id.to_vec(), principal, ops, wrap: vec![principal as u8; 48], granter: 0, sig: vec![3; 64] }
}

/// Principals 0 and 1 keep their ids, named ones get ids from 2, names
/// are unique (a duplicate writes nothing), grants are one per key and
/// principal, deleting a principal deletes its grants, and every write but
/// a login's counters moves the authorization revision; a second store
/// sees it all.
pub(super) fn principals_and_grants_round_trip(p: &Place) {
    let s = p.open();
    s.init_token("t", "0001", &so_key()).unwrap();
    assert_eq!(s.auth_revision().unwrap(), s.load_all().unwrap().rev, "C_InitToken moves it");
    let base = s.auth_revision().unwrap();
    let (so, default, alice, bob) = s
        .transaction(|tx| {
            Ok((
                tx.insert_principal(&principal(PRINCIPAL_SO, "so"))?,
                tx.insert_principal(&principal(PRINCIPAL_DEFAULT, "default"))?,
                tx.insert_principal(&principal(77, "alice"))?,
                tx.insert_principal(&principal(0x55, "bob"))?,
            ))
        })
        .unwrap();
    assert_eq!((so, default), (PRINCIPAL_SO, PRINCIPAL_DEFAULT));
    assert!(alice >= 2 && bob > alice, "named ids come from the store: {alice} {bob}");
    let after_add = s.auth_revision().unwrap();
    assert!(after_add > base);

    // A duplicate name fails and writes nothing (the whole transaction).
    let e = s.transaction(|tx| {
        tx.insert_principal(&principal(NEW, "carol"))?;
        tx.insert_principal(&principal(NEW, "alice"))
    });
    assert!(e.is_err());
    assert_eq!(s.principal("carol").unwrap(), None);
    assert_eq!(s.auth_revision().unwrap(), after_add);

    let other = p.open();
    let got = other.principal("alice").unwrap().unwrap();
    assert_eq!(got, PrincipalRow { id: alice, ..principal(77, "alice") });
    assert_eq!(other.principal("nobody").unwrap(), None);

    // Update: everything but the counters.
    let mut changed = got.clone();
    changed.locked = true;
    changed.roles = 3;
    changed.secret = vec![1; 90];
    changed.pin = Some(PinSalt { salt: vec![4; 16], iterations: 5000 });
    changed.failures = 9;
    s.transaction(|tx| tx.update_principal(&changed)).unwrap();
    assert_eq!(other.principal("alice").unwrap().unwrap(), PrincipalRow { failures: 0, ..changed.clone() });
    assert!(s.transaction(|tx| tx.update_principal(&principal(999, "ghost"))).is_err());

    // Login counters: no move of the authorization revision.
    let before_login = s.auth_revision().unwrap();
    let n = s.transaction(|tx| {
        tx.principal_failed(alice)?;
        tx.principal_failed(alice)
    });
    assert_eq!(n.unwrap(), 2);
    s.transaction(|tx| tx.principal_ok(alice, 100)).unwrap();
    s.transaction(|tx| tx.principal_ok(alice, 50)).unwrap();
    let a = other.principal("alice").unwrap().unwrap();
    assert_eq!((a.failures, a.totp_last_step), (0, 100), "a TOTP step never goes back");
    assert_eq!(s.auth_revision().unwrap(), before_login);
    assert!(s.transaction(|tx| tx.principal_failed(999)).is_err());

    // Grants.
    s.transaction(|tx| {
        tx.put_grant(&grant(b"key-b", alice, 2))?;
        tx.put_grant(&grant(b"key-a", alice, 1))?;
        tx.put_grant(&grant(b"key-a", bob, 4))?;
        tx.put_grant(&grant(b"key-a", PRINCIPAL_SO, 0))
    })
    .unwrap();
    assert!(s.transaction(|tx| tx.put_grant(&grant(b"key-a", 999, 1))).is_err(), "a grant needs its principal");
    let of_alice = other.grants_of(alice).unwrap();
    assert_eq!(of_alice, vec![grant(b"key-a", alice, 1), grant(b"key-b", alice, 2)]);
    let on_a = s.transaction(|tx| tx.grants_on(b"key-a")).unwrap();
    assert_eq!(on_a, vec![grant(b"key-a", PRINCIPAL_SO, 0), grant(b"key-a", alice, 1), grant(b"key-a", bob, 4)]);
    // One grant per key and principal: a second put replaces it.
    let before = s.auth_revision().unwrap();
    s.transaction(|tx| tx.put_grant(&grant(b"key-a", alice, 3))).unwrap();
    assert!(s.auth_revision().unwrap() > before);
    assert_eq!(other.grants_of(alice).unwrap()[0].ops, 3);
    assert!(s.transaction(|tx| tx.delete_grant(b"key-b", alice)).unwrap());
    assert!(!s.transaction(|tx| tx.delete_grant(b"key-b", alice)).unwrap());
    assert_eq!(other.grants_of(alice).unwrap(), vec![grant(b"key-a", alice, 3)]);

    // Deleting a principal takes its grants.
    let before = s.auth_revision().unwrap();
    s.transaction(|tx| tx.delete_principal(bob)).unwrap();
    assert!(s.auth_revision().unwrap() > before);
    assert_eq!(other.principal("bob").unwrap(), None);
    assert!(other.grants_of(bob).unwrap().is_empty());
    assert_eq!(s.transaction(|tx| tx.grants_on(b"key-a")).unwrap().len(), 2);
    assert!(s.transaction(|tx| tx.delete_principal(bob)).is_err());
    let names: Vec<String> = s.transaction(|tx| tx.principals()).unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["so", "default", "alice"]);
}

/// C_InitToken deletes every principal and grant; ids already used are
/// never given out again.
pub(super) fn init_token_wipes_principals_and_keeps_their_ids_used(p: &Place) {
    let s = p.open();
    s.init_token("t", "0001", &so_key()).unwrap();
    let first = s
        .transaction(|tx| {
            tx.insert_principal(&principal(PRINCIPAL_SO, "so"))?;
            let id = tx.insert_principal(&principal(NEW, "alice"))?;
            tx.put_grant(&grant(b"k", id, 1))?;
            Ok(id)
        })
        .unwrap();
    s.init_token("t2", "0002", &so_key()).unwrap();
    assert_eq!(s.principal("alice").unwrap(), None);
    assert!(s.grants_of(first).unwrap().is_empty());
    assert!(s.transaction(|tx| tx.grants()).unwrap().is_empty());
    let again = s.transaction(|tx| tx.insert_principal(&principal(NEW, "alice"))).unwrap();
    assert!(again > first, "{again} > {first}");
    // The reserved ids can be written again after the wipe.
    s.transaction(|tx| tx.insert_principal(&principal(PRINCIPAL_SO, "so"))).unwrap();
}

/// `store::migrate::copy` carries every principal (id and counters) and
/// grant; the target's next named id is above every copied one, and a
/// target that already has principals is refused.
pub(super) fn migration_copies_principals_and_grants(p: &Place) {
    let from = p.open();
    from.init_token("t", "0001", &so_key()).unwrap();
    let (alice, bob) = from
        .transaction(|tx| {
            tx.insert_principal(&principal(PRINCIPAL_SO, "so"))?;
            tx.insert_principal(&principal(PRINCIPAL_DEFAULT, "default"))?;
            let alice = tx.insert_principal(&principal(NEW, "alice"))?;
            let bob = tx.insert_principal(&principal(NEW, "bob"))?;
            tx.principal_failed(bob)?;
            tx.principal_ok(alice, 42)?;
            tx.put_grant(&grant(b"k1", alice, 1))?;
            tx.put_grant(&grant(b"k1", PRINCIPAL_SO, 0))?;
            tx.put_grant(&grant(b"k2", bob, 2))?;
            Ok((alice, bob))
        })
        .unwrap();
    let target = Place::sqlite();
    let to = target.open();
    let c = migrate::copy(&from, &to, &|k| k.to_string()).unwrap();
    assert_eq!((c.principals, c.grants), (4, 3));
    let all = |s: &Store| s.transaction(|tx| Ok((tx.principals()?, tx.grants()?))).unwrap();
    assert_eq!(all(&to), all(&from));
    assert_eq!(to.principal("bob").unwrap().unwrap().failures, 1);
    assert_eq!(to.principal("alice").unwrap().unwrap().totp_last_step, 42);
    let next = to.transaction(|tx| tx.insert_principal(&principal(NEW, "carol"))).unwrap();
    assert!(next > alice.max(bob), "{next}");
    // Back into a fresh store of the same backend, then refused once it has principals.
    let again_place = p.same_kind();
    let again = again_place.open();
    migrate::copy(&to, &again, &|k| k.to_string()).unwrap();
    assert_eq!(all(&again), all(&to));
    let e = migrate::copy(&from, &again, &|k| k.to_string()).unwrap_err();
    assert_eq!(e.rv(), CKR_FUNCTION_FAILED);
}
