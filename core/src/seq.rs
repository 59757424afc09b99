//! Extension of wrapping RTP counters and the sequence-number window.
//!
//! RTP sequence numbers are 16 bits and wrap every 65 536 packets (about
//! 7 minutes of 1080p MJPEG); timestamps are 32 bits. The reassembler works
//! on extended 64-bit values so that ordering and distance are plain integer
//! arithmetic.

/// Extend a 16-bit sequence number to 64 bits, choosing the value closest
/// to `reference` (the highest extended sequence seen so far).
///
/// `extend_u16(0xFFFF, 0x0001) == 0x1_0001`; `extend_u16(0x1_0001, 0xFFFF)
/// == 0xFFFF`. Near zero a backward step cannot go below zero.
pub fn extend_u16(reference: u64, seq: u16) -> u64 {
    extend(reference, u64::from(seq), 16)
}

/// Extend a 32-bit RTP timestamp to 64 bits, closest to `reference`.
pub fn extend_u32(reference: u64, timestamp: u32) -> u64 {
    extend(reference, u64::from(timestamp), 32)
}

fn extend(reference: u64, value: u64, bits: u32) -> u64 {
    let modulus = 1u64 << bits;
    let half = modulus / 2;
    let mask = modulus - 1;
    let cycle = reference & !mask;
    let candidate = cycle | value;
    if candidate > reference && candidate - reference > half {
        // The value is closer if read as belonging to the previous cycle.
        candidate.checked_sub(modulus).unwrap_or(candidate)
    } else if candidate < reference && reference - candidate > half {
        candidate.saturating_add(modulus)
    } else {
        candidate
    }
}

/// Where a stream's extended sequence numbers start: its first sequence
/// one 16-bit cycle up, so that a little reordering just before it still
/// extends to a positive value. RFC 3550 counts cycles from 0: subtract
/// this for its "extended highest sequence number".
pub const FIRST_CYCLE: u64 = 1 << 16;

/// Number of recent sequence numbers the duplicate detector remembers.
pub const WINDOW_BITS: u64 = 512;
const WORDS: usize = (WINDOW_BITS / 64) as usize;

/// Smallest forward step that is not taken at face value: it must be
/// confirmed by the packet after it (RFC 3550 A.1 probation). RFC 3550
/// uses 3000; we use the window size, because a datagram that jumps ahead
/// pushes every real packet behind it out of the window. (The
/// depacketizer keeps the packet that announced a real loss burst this
/// long aside and replays it once confirmed, so the burst costs nothing
/// more.)
pub const MAX_FORWARD_JUMP: u64 = WINDOW_BITS;
/// Smallest backward step read as a sender restart rather than a straggler
/// (RFC 3550 A.1 `MAX_DROPOUT`).
pub const MAX_BACKWARD_JUMP: u64 = 3000;

/// What the window says about one arriving sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// First time seen; carries the extended sequence number.
    New(u64),
    /// Already received (still inside the window).
    Duplicate,
    /// Older than the window can tell apart: cannot be checked for
    /// duplication, so it is refused.
    TooOld,
    /// A jump of at least `MAX_FORWARD_JUMP` forwards or `MAX_BACKWARD_JUMP`
    /// backwards. Refused; if the next packet continues from it, the jump
    /// is believed (RFC 3550 A.1 probation).
    Jump,
    /// The packet that confirms a forward jump: numbering continues, and
    /// what was skipped counts as lost.
    Skip(u64),
    /// The packet that confirms any other jump: the window was reset and
    /// this is the first sequence of the restarted numbering.
    Restart(u64),
}

/// Bitmap over the last `WINDOW_BITS` extended sequence numbers, kept as a
/// ring indexed by `ext % WINDOW_BITS` so that the common advance by one
/// packet touches one bit instead of shifting the whole map.
#[derive(Debug, Clone)]
pub struct SeqWindow {
    /// Highest extended sequence accepted; `None` before the first packet.
    highest: Option<u64>,
    /// Bit `ext % WINDOW_BITS` set means `ext` was received, for `ext` in
    /// `highest - WINDOW_BITS + 1 ..= highest`.
    bits: [u64; WORDS],
    /// Sequence that would confirm a pending jump.
    jump_candidate: Option<u16>,
}

impl Default for SeqWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl SeqWindow {
    pub const fn new() -> Self {
        SeqWindow {
            highest: None,
            bits: [0; WORDS],
            jump_candidate: None,
        }
    }

    /// Classify `seq` and, when it is new, record it.
    #[inline]
    pub fn accept(&mut self, seq: u16) -> SeqVerdict {
        let Some(highest) = self.highest else {
            let first = FIRST_CYCLE | u64::from(seq);
            self.restart_at(first);
            return SeqVerdict::New(first);
        };
        let ext = extend_u16(highest, seq);
        if ext > highest {
            let ahead = ext - highest;
            if ahead >= MAX_FORWARD_JUMP {
                return self.jump(seq);
            }
            self.jump_candidate = None;
            self.clear_after(highest, ahead);
            self.highest = Some(ext);
            self.set(ext);
            SeqVerdict::New(ext)
        } else {
            let behind = highest - ext;
            if behind >= WINDOW_BITS {
                // Far behind: an old straggler or a sender restart.
                return if behind >= MAX_BACKWARD_JUMP {
                    self.jump(seq)
                } else {
                    SeqVerdict::TooOld
                };
            }
            if self.get(ext) {
                SeqVerdict::Duplicate
            } else {
                self.set(ext);
                SeqVerdict::New(ext)
            }
        }
    }

    /// Whether a jump waits for the packet that would confirm it.
    pub fn jump_pending(&self) -> bool {
        self.jump_candidate.is_some()
    }

    /// The caller saw a discontinuity this window cannot see (a timestamp
    /// jump): refuse `seq` unless it confirms a pending jump.
    pub fn discontinuity(&mut self, seq: u16) -> SeqVerdict {
        if self.highest.is_none() {
            return self.accept(seq);
        }
        self.jump(seq)
    }

    fn jump(&mut self, seq: u16) -> SeqVerdict {
        if self.jump_candidate == Some(seq) {
            let highest = self.highest.unwrap_or(0);
            let ext = extend_u16(highest, seq);
            if ext > highest {
                self.jump_candidate = None;
                self.clear_after(highest, ext - highest);
                self.highest = Some(ext);
                self.set(ext);
                return SeqVerdict::Skip(ext);
            }
            // Keep extended numbers increasing across the restart so that
            // frames and counters never see time run backwards.
            let restart = (highest | 0xFFFF).saturating_add(1) | u64::from(seq);
            self.restart_at(restart);
            SeqVerdict::Restart(restart)
        } else {
            self.jump_candidate = Some(seq.wrapping_add(1));
            SeqVerdict::Jump
        }
    }

    fn restart_at(&mut self, ext: u64) {
        self.highest = Some(ext);
        self.bits = [0; WORDS];
        self.jump_candidate = None;
        self.set(ext);
    }

    /// Forget the ring positions `highest + 1 ..= highest + ahead`, which
    /// now stand for new sequence numbers.
    #[inline]
    fn clear_after(&mut self, highest: u64, ahead: u64) {
        if ahead >= WINDOW_BITS {
            self.bits = [0; WORDS];
            return;
        }
        for ext in highest + 1..=highest + ahead {
            self.clear(ext);
        }
    }

    fn position(ext: u64) -> (usize, u64) {
        let bit = ext % WINDOW_BITS;
        ((bit / 64) as usize, 1 << (bit % 64))
    }

    fn get(&self, ext: u64) -> bool {
        let (word, mask) = Self::position(ext);
        self.bits.get(word).is_some_and(|w| w & mask != 0)
    }

    fn set(&mut self, ext: u64) {
        let (word, mask) = Self::position(ext);
        if let Some(w) = self.bits.get_mut(word) {
            *w |= mask;
        }
    }

    fn clear(&mut self, ext: u64) {
        let (word, mask) = Self::position(ext);
        if let Some(w) = self.bits.get_mut(word) {
            *w &= !mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_u16_table() {
        let cases: &[(u64, u16, u64)] = &[
            (0, 0, 0),
            (0, 1, 1),
            (0, 0xFFFF, 0xFFFF), // cannot go below zero
            (0xFFFF, 0, 0x1_0000),
            (0xFFFF, 1, 0x1_0001),
            (0x1_0001, 0xFFFF, 0xFFFF),
            (0x1_0001, 0x7FFF, 0x1_7FFF),
            (0x1_8001, 0x0000, 0x2_0000),
            (0x1_8002, 0x0001, 0x2_0001),
            (0x5_1234, 0x1230, 0x5_1230),
            (0x5_FFF0, 0x0010, 0x6_0010),
            (0x6_0010, 0xFFF0, 0x5_FFF0),
        ];
        for &(reference, seq, want) in cases {
            assert_eq!(extend_u16(reference, seq), want, "{reference:#x} {seq:#x}");
        }
    }

    #[test]
    fn extend_u32_table() {
        assert_eq!(extend_u32(0xFFFF_FF00, 0x0000_0100), 0x1_0000_0100);
        assert_eq!(extend_u32(0x1_0000_0100, 0xFFFF_FF00), 0xFFFF_FF00);
        assert_eq!(extend_u32(0x3_0000_0000, 0x8000_0000), 0x3_8000_0000);
    }

    /// Feed `script`'s sequence numbers to `w` in order: each must get
    /// the verdict beside it.
    fn assert_verdicts(w: &mut SeqWindow, script: &[(u16, SeqVerdict)]) {
        for &(seq, want) in script {
            assert_eq!(w.accept(seq), want, "sequence {seq}");
        }
    }

    #[test]
    fn window_detects_duplicates_and_reordering() {
        assert_verdicts(
            &mut SeqWindow::new(),
            &[
                (10, SeqVerdict::New(0x1_000A)),
                (12, SeqVerdict::New(0x1_000C)),
                (11, SeqVerdict::New(0x1_000B)),
                (11, SeqVerdict::Duplicate),
                (12, SeqVerdict::Duplicate),
                (10, SeqVerdict::Duplicate),
                (9, SeqVerdict::New(0x1_0009)),
            ],
        );
    }

    #[test]
    fn window_wraps() {
        let mut w = SeqWindow::new();
        let mut seq = 0xFFF0u16;
        let mut prev = None;
        for _ in 0..40 {
            let SeqVerdict::New(ext) = w.accept(seq) else {
                panic!("expected new")
            };
            if let Some(p) = prev {
                assert_eq!(ext, p + 1);
            }
            prev = Some(ext);
            seq = seq.wrapping_add(1);
        }
        assert_eq!(w.accept(0xFFF5), SeqVerdict::Duplicate);
        assert_eq!(w.accept(0x0003), SeqVerdict::Duplicate);
    }

    #[test]
    fn window_shift_across_words() {
        let mut w = SeqWindow::new();
        for seq in [0, 70, 200] {
            w.accept(seq);
        }
        assert_verdicts(
            &mut w,
            &[
                (0, SeqVerdict::Duplicate),
                (70, SeqVerdict::Duplicate),
                (69, SeqVerdict::New(0x1_0045)),
            ],
        );
        w.accept(600);
        assert_verdicts(
            &mut w,
            &[(0, SeqVerdict::TooOld), (200, SeqVerdict::Duplicate)],
        );
    }

    #[test]
    fn jump_needs_confirmation() {
        let mut w = SeqWindow::new();
        w.accept(100);
        assert_eq!(w.accept(40_000), SeqVerdict::Jump);
        assert_eq!(w.accept(101), SeqVerdict::New(0x1_0065));
        assert_eq!(w.accept(40_000), SeqVerdict::Jump);
        // 40_001 is more than half the sequence space behind 101 when read
        // forwards: a restart, re-based above everything seen.
        let SeqVerdict::Restart(ext) = w.accept(40_001) else {
            panic!("expected restart")
        };
        assert_eq!(ext & 0xFFFF, 40_001);
        assert!(ext > 0x1_0065);
        assert_eq!(w.accept(40_002), SeqVerdict::New(ext + 1));
    }

    #[test]
    fn confirmed_forward_jump_keeps_numbering() {
        let mut w = SeqWindow::new();
        w.accept(100);
        assert_verdicts(
            &mut w,
            &[
                (1100, SeqVerdict::Jump),
                (1101, SeqVerdict::Skip(0x1_0000 + 1101)),
                (1101, SeqVerdict::Duplicate),
                (1102, SeqVerdict::New(0x1_0000 + 1102)),
                // Steps below the threshold need no confirmation.
                (1102 + 511, SeqVerdict::New(0x1_0000 + 1613)),
            ],
        );
    }
}
