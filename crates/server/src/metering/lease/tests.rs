//! The in-memory side of a lease: what is free, and that checked arithmetic never believes in
//! more free credit than the hold reserves.

use super::*;

fn m(micros: i64) -> Money {
    Money::from_micros(micros)
}

fn lease() -> Lease<Credit> {
    Lease {
        pool: Credit(OrgId::from_stored("org_x".into())),
        state: Mutex::default(),
        resizing: tokio::sync::Mutex::new(()),
    }
}

#[test]
fn free_is_granted_less_what_runs_and_what_waits_to_be_stored() {
    let l = lease();
    l.lock().grown("h1".into(), m(100), 0);
    assert!(l.lock().take(m(60)));
    assert!(!l.lock().take(m(41)), "40 left");
    assert!(l.lock().take(m(40)));
    l.give_back(m(40));
    // A request reserved 60 and cost 25: 25 waits for the writer, 35 is free again.
    l.finish(m(60), m(25));
    assert_eq!(l.lock().free(), m(75));
    // Stored: the hold shrank by the cost; dropped: the cost is free again.
    l.settled(m(25), true);
    let s = l.lock();
    assert_eq!(
        (s.granted, s.pending, s.free()),
        (m(75), Money::ZERO, m(75))
    );
    drop(s);
    l.finish(Money::ZERO, m(5));
    l.settled(m(5), false);
    assert_eq!(l.lock().free(), m(75));
    // A lost hold with requests running: less than nothing is free.
    let mut s = l.lock();
    assert!(s.take(m(30)));
    s.lost();
    assert_eq!(s.free(), m(-30));
    assert!(!s.take(m(1)));
}

#[test]
fn an_overflow_never_frees_credit() {
    let max = m(i64::MAX);
    let mut s = LeaseState::default();
    s.grown("h1".into(), max, 0);
    // A growth past what an amount holds is not counted.
    s.grown("h1".into(), m(1), 0);
    assert_eq!(s.granted, max);
    assert!(s.take(max));
    assert_eq!(s.free(), Money::ZERO);
    assert!(!s.take(m(1)));
    // Taking off more than is there leaves the amount as it was.
    let mut running = m(-2);
    take_off(&mut running, max);
    assert_eq!(running, m(-2));
    // Granted less running less pending past i64: nothing is free, not a wrapped amount.
    let mut s = LeaseState {
        granted: m(i64::MIN + 1),
        in_flight: m(2),
        ..LeaseState::default()
    };
    assert_eq!(s.free(), Money::ZERO);
    assert!(!s.take(m(1)));
    s.granted = Money::ZERO;
    s.in_flight = max;
    s.pending = max;
    assert_eq!(s.free(), Money::ZERO);
    assert!(!s.take(m(1)));
}

#[test]
fn a_lease_grows_ahead_when_less_than_half_a_tick_of_demand_is_free() {
    let mut s = LeaseState::default();
    s.grown("h1".into(), m(100), 0);
    assert!(s.take(m(60)));
    assert!(
        !s.claim_growth_ahead(),
        "40 free of a 60 demand: more than half"
    );
    assert!(s.take(m(15)));
    assert!(s.claim_growth_ahead(), "25 free of a 75 demand");
    assert!(!s.claim_growth_ahead(), "one growth at a time");
}
