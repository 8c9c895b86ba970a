//! The sequential semantics of updates, and their keys.

use alloc::vec::Vec;

use crate::{Effect, Name, Op, Tables, UpdateError};

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn claim(base: u64, size: u64) -> Op {
    Op::ClaimObject { base, size, by: 1 }
}

#[test]
fn names_and_domains() {
    let mut t = Tables::new();
    let mut fx = Vec::new();
    let reg = |n: &str, owner| Op::RegisterName {
        name: name(n),
        owner,
        port: 5,
    };
    assert_eq!(t.apply(&reg("a", 1), &mut fx), Err(UpdateError::NotFound));
    let add = |domain| Op::AddDomain {
        domain,
        program: name("p"),
    };
    assert_eq!(t.apply(&add(1), &mut fx), Ok(()));
    assert_eq!(t.apply(&add(1), &mut fx), Err(UpdateError::Exists));
    assert_eq!(t.apply(&add(2), &mut fx), Ok(()));
    assert_eq!(t.apply(&reg("a", 1), &mut fx), Ok(()));
    assert_eq!(t.apply(&reg("a", 2), &mut fx), Err(UpdateError::Exists));
    assert_eq!(t.apply(&reg("b", 1), &mut fx), Ok(()));
    assert_eq!(t.apply(&reg("c", 2), &mut fx), Ok(()));
    let unreg = |n: &str, owner| Op::UnregisterName {
        name: name(n),
        owner,
    };
    assert_eq!(t.apply(&unreg("a", 2), &mut fx), Err(UpdateError::NotOwner));
    assert_eq!(t.apply(&unreg("z", 2), &mut fx), Err(UpdateError::NotFound));
    assert_eq!(t.apply(&unreg("b", 1), &mut fx), Ok(()));
    assert_eq!(t.lookup(&name("a")).map(|b| b.owner), Some(1));
    assert!(fx.is_empty());
    let d = t.digest();
    assert_eq!(t.apply(&Op::RemoveDomain { domain: 1 }, &mut fx), Ok(()));
    assert_ne!(t.digest(), d);
    assert_eq!(fx, [Effect::DomainRemoved { domain: 1 }]);
    assert_eq!(
        t.names().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        ["c"]
    );
    assert_eq!(
        t.apply(&Op::RemoveDomain { domain: 1 }, &mut fx),
        Err(UpdateError::NotFound)
    );
}

#[test]
fn claims_and_revoke() {
    let mut t = Tables::new();
    let mut fx = Vec::new();
    assert_eq!(t.apply(&claim(0x1000, 0x1000), &mut fx), Ok(()));
    for (b, s) in [
        (0x1000, 1),
        (0x1fff, 1),
        (0, 0x1001),
        (0, u64::MAX),
        (0x800, 0x1000),
    ] {
        assert_eq!(
            t.validate(&claim(b, s)),
            Err(UpdateError::Conflict),
            "{b:#x}+{s:#x}"
        );
    }
    for (b, s) in [(0, 0x1000), (0x2000, 1)] {
        assert_eq!(t.validate(&claim(b, s)), Ok(()));
    }
    assert_eq!(t.validate(&claim(5, 0)), Err(UpdateError::Invalid));
    assert_eq!(t.validate(&claim(u64::MAX, 1)), Err(UpdateError::Invalid));
    assert_eq!(t.validate(&claim(u64::MAX - 1, 1)), Ok(()));
    assert_eq!(t.apply(&claim(0x3000, 0x2000), &mut fx), Ok(()));
    assert_eq!(t.apply(&claim(0, 0x1000), &mut fx), Ok(()));
    assert_eq!(t.apply(&claim(0x6000, 0x1000), &mut fx), Ok(()));
    assert_eq!(
        t.validate(&claim(0x2000, 0x1001)),
        Err(UpdateError::Conflict)
    );
    assert_eq!(t.validate(&claim(0x5000, 0x1000)), Ok(()));
    // Revoke [0x1000, 0x6000): drops the claims wholly inside, keeps the others.
    let rv = Op::RevokeObject {
        base: 0x1000,
        size: 0x5000,
    };
    assert_eq!(t.apply(&rv, &mut fx), Ok(()));
    assert_eq!(
        fx,
        [Effect::RevokeLocal {
            base: 0x1000,
            size: 0x5000
        }]
    );
    assert_eq!(
        t.claims().collect::<Vec<_>>(),
        [(0, 0x1000, 1), (0x6000, 0x1000, 1)]
    );
    let rv = Op::RevokeObject {
        base: 0x6800,
        size: 0x1000,
    };
    assert_eq!(t.apply(&rv, &mut fx), Ok(()));
    assert_eq!(t.claims().count(), 2, "partly overlapping claims stay");
    let rv = Op::RevokeObject { base: 0, size: 0 };
    assert_eq!(t.apply(&rv, &mut fx), Err(UpdateError::Invalid));
    assert_eq!(fx.len(), 2);
}

#[test]
fn keys_conflict_as_documented() {
    let n = |s| name(s);
    let reg = |s, owner| Op::RegisterName {
        name: n(s),
        owner,
        port: 0,
    };
    let unreg = |s, owner| Op::UnregisterName { name: n(s), owner };
    let add = |domain| Op::AddDomain {
        domain,
        program: n("p"),
    };
    let rm = |domain| Op::RemoveDomain { domain };
    let rv = |base, size| Op::RevokeObject { base, size };
    // Same name: conflict. Same owner, different names: no conflict (shared domain key).
    assert!(reg("a", 1).conflicts(&unreg("a", 2)));
    assert!(!reg("a", 1).conflicts(&reg("b", 1)));
    // A name update and its owner's add/remove: conflict.
    assert!(reg("a", 1).conflicts(&rm(1)));
    assert!(unreg("a", 1).conflicts(&add(1)));
    assert!(!reg("a", 1).conflicts(&rm(2)));
    assert!(add(1).conflicts(&rm(1)));
    assert!(!add(1).conflicts(&add(2)));
    // Ranges: overlap.
    assert!(claim(0, 0x1000).conflicts(&rv(0xfff, 1)));
    assert!(!claim(0, 0x1000).conflicts(&rv(0x1000, 1)));
    assert!(claim(0, u64::MAX).conflicts(&claim(u64::MAX - 1, 1)));
    // Different kinds never conflict.
    assert!(!claim(1, 1).conflicts(&add(1)));
    assert!(!reg("a", 1).conflicts(&claim(0, u64::MAX)));
}
