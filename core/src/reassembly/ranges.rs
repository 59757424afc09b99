//! The byte ranges of one frame received so far, as smoltcp's `Assembler`
//! tracks a TCP receive window: a frame is whole when one range covers
//! `0..end`.

use core::fmt;

use arrayvec::ArrayVec;

use crate::stats::DropReason;

/// Disjoint received byte ranges one frame may hold before it is given up
/// as too fragmented to be worth tracking (each hole costs one range).
const MAX_RANGES: usize = 32;

/// Why a range could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeError {
    /// The range claims bytes already received: two fragments disagree.
    Overlap,
    /// The range would open more than `MAX_RANGES` holes: more reordering
    /// than is worth tracking.
    TooFragmented,
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeError::Overlap => f.write_str("fragment overlaps bytes already received"),
            RangeError::TooFragmented => f.write_str("too many holes in the frame"),
        }
    }
}

impl core::error::Error for RangeError {}

/// The frame a range error hits is dropped for this reason.
impl From<RangeError> for DropReason {
    fn from(e: RangeError) -> Self {
        match e {
            RangeError::Overlap => DropReason::Inconsistent,
            // A frame with that many holes is too reordered to wait for.
            RangeError::TooFragmented => DropReason::Lost,
        }
    }
}

/// Sorted, disjoint, coalesced byte ranges `(start, end)` received.
#[derive(Debug, Clone, Default)]
pub(super) struct ReceivedRanges {
    ranges: ArrayVec<(u32, u32), MAX_RANGES>,
}

impl ReceivedRanges {
    /// Record `start..end` as received, merging it with its neighbours.
    /// An empty range changes nothing.
    // Called for every packet: always inlined, the in-order case costs a
    // compare and a store (a call here showed in the reassembly bench).
    #[inline(always)]
    pub(super) fn add(&mut self, start: u32, end: u32) -> Result<(), RangeError> {
        // In-order arrival, the common case, extends the last range.
        if let Some(last) = self.ranges.last_mut() {
            if last.1 == start && start != end {
                last.1 = end;
                return Ok(());
            }
        }
        if start == end {
            return Ok(());
        }
        self.insert(start, end)
    }

    /// `add` for a range that does not extend the last one.
    // Only reordered packets get here: kept out of the per-packet path.
    #[cold]
    fn insert(&mut self, start: u32, end: u32) -> Result<(), RangeError> {
        let ranges = &mut self.ranges;
        let at = ranges
            .iter()
            .position(|&(s, _)| s >= start)
            .unwrap_or(ranges.len());
        let prev = at.checked_sub(1).and_then(|p| ranges.get(p)).copied();
        let next = ranges.get(at).copied();
        if prev.is_some_and(|(_, pe)| pe > start) || next.is_some_and(|(ns, _)| ns < end) {
            return Err(RangeError::Overlap);
        }
        let joins_prev = prev.is_some_and(|(_, pe)| pe == start);
        let joins_next = next.is_some_and(|(ns, _)| ns == end);
        match (joins_prev, joins_next) {
            (true, true) => {
                let merged_end = next.map_or(end, |(_, ne)| ne);
                if let Some(p) = at.checked_sub(1).and_then(|p| ranges.get_mut(p)) {
                    p.1 = merged_end;
                }
                ranges.pop_at(at);
            }
            (true, false) => {
                if let Some(p) = at.checked_sub(1).and_then(|p| ranges.get_mut(p)) {
                    p.1 = end;
                }
            }
            (false, true) => {
                if let Some(n) = ranges.get_mut(at) {
                    n.0 = start;
                }
            }
            (false, false) => {
                ranges
                    .try_insert(at, (start, end))
                    .map_err(|_| RangeError::TooFragmented)?;
            }
        }
        Ok(())
    }

    /// Whether the bytes received are exactly `0..end`, with no hole.
    #[inline]
    pub(super) fn is_exactly(&self, end: u32) -> bool {
        self.ranges.as_slice() == [(0, end)]
    }

    /// End of the highest range received, if any.
    #[inline]
    pub(super) fn end(&self) -> Option<u32> {
        self.ranges.last().map(|&(_, end)| end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(r: &ReceivedRanges) -> &[(u32, u32)] {
        r.ranges.as_slice()
    }

    #[test]
    fn merge_and_detect_overlap() {
        let mut r = ReceivedRanges::default();
        r.add(10, 20).unwrap();
        r.add(30, 40).unwrap();
        r.add(0, 10).unwrap();
        assert_eq!(ranges(&r), &[(0, 20), (30, 40)]);
        r.add(20, 30).unwrap();
        assert_eq!(ranges(&r), &[(0, 40)]);
        assert_eq!(r.add(35, 45), Err(RangeError::Overlap));
        r.add(50, 60).unwrap();
        assert_eq!(r.add(45, 51), Err(RangeError::Overlap));
        r.add(40, 50).unwrap();
        assert_eq!(ranges(&r), &[(0, 60)]);
        r.add(60, 60).unwrap();
        assert_eq!(ranges(&r), &[(0, 60)]);
    }

    #[test]
    fn in_order_extends_the_last_range() {
        let mut r = ReceivedRanges::default();
        assert_eq!(r.end(), None);
        for start in (0..1000).step_by(100) {
            r.add(start, start + 100).unwrap();
        }
        assert_eq!(ranges(&r), &[(0, 1000)]);
        assert_eq!(r.end(), Some(1000));
    }

    #[test]
    fn contiguous_from_zero_to_end_only() {
        let mut r = ReceivedRanges::default();
        // Nothing received, not even an empty frame, is whole.
        assert!(!r.is_exactly(0));
        r.add(10, 20).unwrap();
        assert!(!r.is_exactly(20));
        r.add(0, 10).unwrap();
        assert!(r.is_exactly(20));
        assert!(!r.is_exactly(30));
        r.add(25, 30).unwrap();
        assert!(!r.is_exactly(30));
        assert_eq!(r.end(), Some(30));
    }

    #[test]
    fn duplicate_range_is_an_overlap() {
        let mut r = ReceivedRanges::default();
        r.add(0, 10).unwrap();
        assert_eq!(r.add(0, 10), Err(RangeError::Overlap));
        assert_eq!(r.add(5, 8), Err(RangeError::Overlap));
        assert_eq!(ranges(&r), &[(0, 10)]);
    }

    #[test]
    fn too_many_holes() {
        let mut r = ReceivedRanges::default();
        // Every other 10-byte block, backwards so nothing extends the last.
        for i in (0..MAX_RANGES as u32).rev() {
            r.add(i * 20, i * 20 + 10).unwrap();
        }
        assert_eq!(ranges(&r).len(), MAX_RANGES);
        let past = MAX_RANGES as u32 * 20;
        // Extending the last range needs no new slot; a new hole does.
        r.add(past - 10, past).unwrap();
        assert_eq!(r.add(past + 10, past + 20), Err(RangeError::TooFragmented));
        // Filling a hole still works.
        r.add(10, 20).unwrap();
        assert_eq!(ranges(&r).len(), MAX_RANGES - 1);
    }
}
