//! Votes merged in any order give the same outcome everywhere.

use std::collections::BTreeMap;

use entraide_docs::calendar::DeviceOrg;
use entraide_docs::proposals::{NewProposal, Position, Process, Proposals};
use entraide_docs::{Author, DocKind, SharedDoc};
use proptest::prelude::*;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn concurrent_votes_same_outcome(
        process in 0u8..3,
        votes in proptest::collection::vec((1u8..=6, 0u8..4, 0i64..200), 1..12),
        orders in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 6), 1..4),
    ) {
        // Six devices, two per organisation.
        let dir: BTreeMap<String, DeviceOrg> = (1..=6u8)
            .map(|n| (hex(&[n; 32]), DeviceOrg { org: format!("o{}", n.div_ceil(2)), coordinator: false }))
            .collect();
        let active: Vec<String> = (1..=3).map(|n| format!("o{n}")).collect();
        let process = [Process::Consent, Process::Consensus, Process::Majority][process as usize];
        let mut base = Proposals::new(SharedDoc::new(DocKind::Proposals, [1; 32]));
        base.propose(&Author { device: [1; 32], org: "o1".into() }, 0, NewProposal {
            id: "p", title: "t", kind: "general", text: "", process, quorum: None, deadline: 150, motion: None,
        }).unwrap();
        let bytes = base.doc_mut().save();
        let mut copies: Vec<Proposals> = (1..=6u8)
            .map(|n| Proposals::new(SharedDoc::load(DocKind::Proposals, [n; 32], [&bytes[..]]).unwrap()))
            .collect();
        for (device, position, at) in votes {
            let position = [Position::Agree, Position::Abstain, Position::Disagree, Position::Block][position as usize];
            let author = Author { device: [device; 32], org: format!("o{}", device.div_ceil(2)) };
            // Cast as if each node's clock were `at` (some after the deadline).
            let _ = copies[device as usize - 1].vote(&author, at.min(149), "p", position, "because", &active, &dir);
        }
        let mut outcomes = Vec::new();
        for order in orders {
            let mut target = Proposals::new(SharedDoc::load(DocKind::Proposals, [9; 32], [&bytes[..]]).unwrap());
            let mut idx: Vec<usize> = (0..6).collect();
            idx.sort_by_key(|i| order[*i]);
            for i in idx {
                let mut fork = copies[i].doc_mut().fork();
                target.doc_mut().merge(&mut fork).unwrap();
            }
            let p = target.list(&active, &dir, 1_000).remove(0);
            outcomes.push((p.outcome, p.votes.len(), p.decided_at));
        }
        prop_assert!(outcomes.windows(2).all(|w| w[0] == w[1]), "{:?}", outcomes);
        // One counted position per organisation at most.
        prop_assert!(outcomes[0].1 <= 3);
    }
}
