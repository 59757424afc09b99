//! The one network impairment model of the tests (sans-IO, like str0m's
//! netem): what a network does to datagrams between sender and receiver —
//! loses, reorders, duplicates, stalls — as pure functions over the
//! datagrams in the order and at the times they were sent. A script of
//! [`Impairment`]s in, arrivals with their times out: a test knows exactly
//! what the receiver saw, so it can predict every counter.
//!
//! Places in the arrival order are named by *slots*: slot `k` is the
//! moment sent datagram `k` would arrive on an unimpaired network (at its
//! send time). A datagram reordered or copied to [`Place::After`]`(k)`
//! arrives right after that moment, whatever became of datagram `k`
//! itself. The seeded generators ([`lose_some`], [`swap_neighbours`],
//! [`duplicate_nearby`]) draw scripts from the one [`Rng`].

use std::ops::Range;
use std::time::Duration;

use crate::{Datagram, Rng};

/// Where in the arrival order a moved or copied datagram arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Just before slot `k`.
    Before(usize),
    /// Just after slot `k`.
    After(usize),
}

/// One thing the network does; every `usize` is an index into the sent
/// datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impairment {
    /// The datagram never arrives.
    Lose(usize),
    /// The datagram arrives at the place instead of in its own slot.
    Reorder(usize, Place),
    /// A copy of the datagram also arrives at the place.
    Duplicate(usize, Place),
    /// The network stalls just before slot `k`: what arrives there and
    /// after comes that much later.
    Stall(usize, Duration),
}

/// One datagram that arrives: which sent one (a copy has the original's
/// index) and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub sent: usize,
    pub at: Duration,
}

/// Position within a slot.
const BEFORE: u8 = 0;
const IN_TURN: u8 = 1;
const AFTER: u8 = 2;

/// The arrivals, in order, of datagrams sent at `send_times` (not
/// decreasing) through a network doing `script`.
///
/// A datagram's last `Lose` or `Reorder` decides where it arrives (copies
/// are independent of it). Several datagrams at the same place arrive in
/// script order. An arrival takes its slot's send time plus every stall
/// before it, so arrival times never decrease either.
pub fn schedule(send_times: &[Duration], script: &[Impairment]) -> Vec<Arrival> {
    let n = send_times.len();
    assert!(
        send_times.windows(2).all(|w| w[0] <= w[1]),
        "send times go back"
    );
    let check = |i: usize| assert!(i < n, "datagram {i} of {n} sent");
    let place_key = |place: Place, order: usize| match place {
        Place::Before(k) => {
            check(k);
            (k, BEFORE, order)
        }
        Place::After(k) => {
            check(k);
            (k, AFTER, order)
        }
    };
    // (slot, position within the slot, script order) of each arrival.
    let mut own: Vec<Option<(usize, u8, usize)>> = (0..n).map(|i| Some((i, IN_TURN, 0))).collect();
    let mut copies = Vec::new();
    let mut stall = vec![Duration::ZERO; n];
    for (order, impairment) in script.iter().enumerate() {
        match *impairment {
            Impairment::Lose(i) => {
                check(i);
                own[i] = None;
            }
            Impairment::Reorder(i, place) => {
                check(i);
                own[i] = Some(place_key(place, order));
            }
            Impairment::Duplicate(i, place) => {
                check(i);
                copies.push((place_key(place, order), i));
            }
            Impairment::Stall(k, by) => {
                check(k);
                stall[k] += by;
            }
        }
    }
    let mut keyed: Vec<((usize, u8, usize), usize)> = own
        .into_iter()
        .enumerate()
        .filter_map(|(i, key)| Some((key?, i)))
        .chain(copies)
        .collect();
    keyed.sort_by_key(|&(key, _)| key);
    // Stalls up to and including each slot.
    let mut delay = Duration::ZERO;
    let stalled: Vec<Duration> = stall
        .iter()
        .map(|&by| {
            delay += by;
            delay
        })
        .collect();
    keyed
        .into_iter()
        .map(|((slot, position, _), sent)| {
            let mut at = send_times[slot] + stalled[slot];
            if position == BEFORE {
                at -= stall[slot];
            }
            Arrival { sent, at }
        })
        .collect()
}

/// [`schedule`] applied to datagrams: the ones that arrive, in order, each
/// with its arrival time.
pub fn apply(sent: &[Datagram], script: &[Impairment]) -> Vec<Datagram> {
    let times: Vec<Duration> = sent.iter().map(|d| d.time).collect();
    schedule(&times, script)
        .into_iter()
        .map(|a| Datagram {
            time: a.at,
            ..sent[a.sent].clone()
        })
        .collect()
}

/// Lose each datagram of `span` (at least two) with `percent` % chance,
/// but at least one and never all: damaged, not gone.
pub fn lose_some(rng: &mut Rng, span: Range<usize>, percent: usize) -> Vec<Impairment> {
    assert!(span.len() >= 2, "a span of at least two datagrams");
    let mut lost: Vec<bool> = span.clone().map(|_| rng.chance(percent)).collect();
    if lost.iter().all(|&l| !l) {
        lost[rng.below(span.len())] = true;
    }
    if lost.iter().all(|&l| l) {
        lost[rng.below(span.len())] = false;
    }
    span.zip(lost)
        .filter(|&(_, l)| l)
        .map(|(i, _)| Impairment::Lose(i))
        .collect()
}

/// `count` times, a random datagram of `span` (at least two) arrives
/// after the next one.
pub fn swap_neighbours(rng: &mut Rng, span: Range<usize>, count: usize) -> Vec<Impairment> {
    assert!(span.len() >= 2, "a span of at least two datagrams");
    (0..count)
        .map(|_| {
            let i = span.start + rng.below(span.len() - 1);
            Impairment::Reorder(i, Place::After(i + 1))
        })
        .collect()
}

/// `count` copies of random datagrams of `span`, each arriving at most
/// `max_later` slots after its original (and within the span).
pub fn duplicate_nearby(
    rng: &mut Rng,
    span: Range<usize>,
    count: usize,
    max_later: usize,
) -> Vec<Impairment> {
    assert!(!span.is_empty(), "an empty span");
    (0..count)
        .map(|_| {
            let i = span.start + rng.below(span.len());
            let at = (i + rng.below(max_later + 1)).min(span.end - 1);
            Impairment::Duplicate(i, Place::After(at))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn order(n: usize, script: &[Impairment]) -> Vec<usize> {
        let times: Vec<Duration> = (0..n as u64).map(ms).collect();
        schedule(&times, script).iter().map(|a| a.sent).collect()
    }

    #[test]
    fn loss_reordering_and_copies_by_slot() {
        use Impairment::*;
        assert_eq!(order(4, &[]), [0, 1, 2, 3]);
        assert_eq!(order(4, &[Lose(0), Lose(3)]), [1, 2]);
        assert_eq!(order(4, &[Reorder(0, Place::After(2))]), [1, 2, 0, 3]);
        assert_eq!(order(4, &[Reorder(3, Place::Before(1))]), [0, 3, 1, 2]);
        // The last word on a datagram decides; copies are on their own.
        let script = [
            Lose(1),
            Reorder(1, Place::After(3)),
            Duplicate(1, Place::After(1)),
        ];
        assert_eq!(order(4, &script), [0, 1, 2, 3, 1]);
        // Same place: script order.
        let both = [Duplicate(0, Place::After(3)), Reorder(1, Place::After(3))];
        assert_eq!(order(4, &both), [0, 2, 3, 0, 1]);
    }

    #[test]
    fn a_stall_delays_what_arrives_from_its_slot_on() {
        use Impairment::*;
        let times: Vec<Duration> = (0..4).map(ms).collect();
        let script = [
            Stall(2, ms(100)),
            Reorder(0, Place::Before(2)),
            Reorder(1, Place::After(2)),
        ];
        let got: Vec<(usize, Duration)> = schedule(&times, &script)
            .iter()
            .map(|a| (a.sent, a.at))
            .collect();
        assert_eq!(got, [(0, ms(2)), (2, ms(102)), (1, ms(102)), (3, ms(103))]);
    }

    #[test]
    fn seeded_generators_stay_in_their_span() {
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let lost = lose_some(&mut rng, 10..14, 60);
            assert!((1..4).contains(&lost.len()), "{lost:?}");
            let arrivals = order(20, &lost);
            assert_eq!(arrivals.len(), 20 - lost.len());
            let script = swap_neighbours(&mut rng, 10..14, 2);
            assert!(script
                .iter()
                .all(|s| matches!(s, Impairment::Reorder(i, Place::After(k)) if (10..13).contains(i) && *k == i + 1)));
            let copies = duplicate_nearby(&mut rng, 10..14, 3, 5);
            assert!(copies
                .iter()
                .all(|s| matches!(s, Impairment::Duplicate(i, Place::After(k)) if (10..14).contains(i) && (*i..14).contains(k))));
        }
    }
}
