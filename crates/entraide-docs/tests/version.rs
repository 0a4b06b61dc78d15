//! Version vectors, as the sync protocol uses them to say what a peer holds
//! (`Have`, `Want`) and what it lacks: merging is a join (order and
//! repetition do not matter), and what lies beyond a vector is exactly what
//! a holder of that vector lacks.

use entraide_docs::{VersionVector, merge_version, version_beyond};
use proptest::prelude::*;

fn vector() -> impl Strategy<Value = VersionVector> {
    proptest::collection::btree_map(proptest::collection::vec(0u8..4, 1..3), 1u64..20, 0..6)
}

fn merged(a: &VersionVector, b: &VersionVector) -> VersionVector {
    let mut out = a.clone();
    merge_version(&mut out, b);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merging_is_order_independent_and_idempotent(
        a in vector(),
        b in vector(),
        c in vector(),
    ) {
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
        prop_assert_eq!(merged(&a, &a), a.clone());
        prop_assert_eq!(merged(&merged(&a, &b), &b), merged(&a, &b));
    }

    #[test]
    fn beyond_is_what_the_holder_lacks(mine in vector(), known in vector()) {
        let lacking = version_beyond(&mine, &known);
        // Every entry is mine and newer than what the holder has.
        for (actor, seq) in &lacking {
            prop_assert_eq!(mine.get(actor), Some(seq));
            prop_assert!(known.get(actor).copied().unwrap_or(0) < *seq);
        }
        // Once the holder takes it, nothing of mine lies beyond.
        let after = merged(&known, &lacking);
        prop_assert!(version_beyond(&mine, &after).is_empty());
        // Nothing lies beyond a vector that already holds mine.
        prop_assert!(version_beyond(&mine, &merged(&known, &mine)).is_empty());
    }
}
