//! Every answer of a subject's history index against a brute-force fold
//! of random histories: the state at any point through keyframes (at
//! several spacings), blame and its history, watch in both directions,
//! and diffs.

use hindsight_timetravel::{document, writeset, Op, Predicate, Spacing, Subject};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Small key and value spaces, so events collide on the same fields.
fn patch() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        (-3i64..4).prop_map(Value::from),
        Just(json!("x")),
        Just(json!({})),
        Just(json!([1, 2])),
    ];
    let inner = prop::collection::btree_map(prop::sample::select(vec!["b", "c"]), leaf.clone(), 0..3)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    let member = prop_oneof![3 => leaf, 2 => inner];
    let object = prop::collection::btree_map(prop::sample::select(vec!["a", "b", "s"]), member, 1..3)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    prop_oneof![12 => object, 1 => Just(json!([7])), 1 => Just(json!(3))]
}

const POINTERS: &[&str] = &["", "/a", "/a/b", "/a/c", "/b", "/b/b", "/s", "/a/0", "/zz"];

/// The states after 0, 1, ..., n events.
fn states(patches: &[Value]) -> Vec<Value> {
    let mut out = vec![document::init()];
    let mut doc = document::init();
    for p in patches {
        json_patch::merge(&mut doc, p);
        out.push(doc.clone());
    }
    out
}

fn build(patches: &[Value], spacing: Spacing) -> Subject {
    let mut s = Subject::new(document::init(), spacing);
    for (i, p) in patches.iter().enumerate() {
        // Positions with gaps: other subjects' events lie between.
        s.fold(i as u64 * 3 + 1, i as u64, |doc| document::apply(doc, p));
    }
    s
}

/// The events (indexes) among the first `count` whose whole-state diff
/// touched a leaf at or under `at`, newest first.
fn touching(states: &[Value], at: &str, count: usize) -> Vec<usize> {
    (0..count)
        .rev()
        .filter(|&i| {
            writeset::changes(Some(&states[i]), Some(&states[i + 1]))
                .iter()
                .any(|c| hindsight_timetravel::pointer::is_at_or_under(&c.pointer, at))
        })
        .collect()
}

fn holds(p: &Predicate, state: &Value, at: &str) -> bool {
    match state.pointer(at) {
        Some(v) if writeset::is_container(v) => p.holds_for_container(),
        v => p.holds(v),
    }
}

fn predicates() -> Vec<Predicate> {
    let mut out = vec![];
    for op in [Op::Changed, Op::Exists, Op::Missing] {
        out.push(Predicate::new(op, None).unwrap());
    }
    for op in [Op::Eq, Op::Ne, Op::Lt, Op::Ge] {
        for v in [json!(0), json!("x"), json!({})] {
            out.push(Predicate::new(op, Some(v)).unwrap());
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_index_answers_what_a_brute_force_fold_does(
        patches in prop::collection::vec(patch(), 0..40),
        every in 1u64..6,
        per_octave in 1u64..4,
        points in prop::collection::vec(0usize..41, 4),
    ) {
        let states = states(&patches);
        let subject = build(&patches, Spacing { every, per_octave });
        prop_assert_eq!(subject.state(), states.last().unwrap());
        for &count in &points {
            let count = count.min(patches.len());
            // State at a point: keyframe + fold.
            let (frame, rest) = subject.plan(count);
            let mut state = (*frame.state).clone();
            for e in rest {
                document::apply(&mut state, &patches[e.version as usize]);
            }
            prop_assert_eq!(&state, &states[count], "state after {} events", count);
            prop_assert_eq!(subject.count_before(count as u64 * 3 + 1), count);
            // Diff: the patch from A to B turns A into B.
            let other = &states[points[0].min(patches.len())];
            let mut patched = state.clone();
            json_patch::patch(&mut patched, &json_patch::diff(&state, other)).unwrap();
            prop_assert_eq!(&patched, other);
            for at in POINTERS {
                let want = touching(&states, at, count);
                let blame = subject.blame(at, count, usize::MAX);
                let got: Vec<usize> = blame.iter()
                    .flat_map(|b| std::iter::once(&b.current).chain(&b.history))
                    .map(|c| c.event.version as usize)
                    .collect();
                prop_assert_eq!(&got, &want, "blame {} after {} events", at, count);
                if let Some(b) = &blame {
                    let i = b.current.event.version as usize;
                    for w in &b.current.writes {
                        let leaf = |s: &Value| s.pointer(&w.pointer).filter(|v| !writeset::is_container(v)).cloned();
                        prop_assert_eq!(&w.old, &leaf(&states[i]), "old at {}", w.pointer);
                        prop_assert_eq!(&w.new, &leaf(&states[i + 1]), "new at {}", w.pointer);
                    }
                }
                for p in predicates() {
                    let became = |i: usize| if p.is_change() {
                        touching(&states, at, i + 1).first() == Some(&i)
                    } else {
                        holds(&p, &states[i + 1], at) && !holds(&p, &states[i], at)
                    };
                    let back = (0..count).rev().find(|&i| became(i));
                    let fwd = (count..patches.len()).find(|&i| became(i));
                    let got_back = subject.watch(at, &p, count, true).map(|c| c.event.version as usize);
                    let got_fwd = subject.watch(at, &p, count, false).map(|c| c.event.version as usize);
                    prop_assert_eq!(got_back, back, "watch {} {:?} backward from {}", at, p, count);
                    prop_assert_eq!(got_fwd, fwd, "watch {} {:?} forward from {}", at, p, count);
                }
            }
        }
    }
}
