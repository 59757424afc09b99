//! What the depacketizer knows about the current stream (one SSRC): reset
//! as a whole when the SSRC changes.

use heapless::{Deque, Vec};

use crate::rfc2435::{appendix_a_tables, JpegPayload, QuantTables};
use crate::seq::SeqWindow;
use crate::stats::{DropReason, StreamStats};
use crate::time::Instant;

/// Recently finished frames, (timestamp, marker sequence), remembered to
/// recognise stragglers.
const FINISHED_MEMORY: usize = 16;
/// In-band tables remembered for Q 128..=254 (most senders use one Q).
const QUANT_CACHE: usize = 4;

/// Per-stream state reset on an SSRC change.
#[derive(Debug, Clone)]
pub(super) struct StreamState {
    pub(super) stats: StreamStats,
    pub(super) window: SeqWindow,
    finished: Deque<(u32, Option<u64>), FINISHED_MEMORY>,
    quant_cache: Vec<(u8, QuantTables), QUANT_CACHE>,
    pub(super) highest_timestamp: Option<u64>,
    /// Arrival of the stream's latest accepted packet.
    pub(super) last_arrival: Instant,
}

impl StreamState {
    pub(super) fn new(ssrc: u32, now: Instant) -> Self {
        StreamState {
            stats: StreamStats {
                ssrc: Some(ssrc),
                ..StreamStats::default()
            },
            window: SeqWindow::new(),
            finished: Deque::new(),
            quant_cache: Vec::new(),
            highest_timestamp: None,
            last_arrival: now,
        }
    }

    /// Remember a frame that completed or was dropped, so that its
    /// stragglers are recognised as late.
    pub(super) fn remember_finished(&mut self, timestamp: u32, marker_seq: Option<u64>) {
        if self.finished.is_full() {
            self.finished.pop_front();
        }
        // Cannot fail: room was just made.
        let _ = self.finished.push_back((timestamp, marker_seq));
    }

    /// Whether a packet (`timestamp`, extended sequence `ext_seq`) belongs
    /// to a frame already finished: same timestamp, not after its marker.
    pub(super) fn is_finished(&self, timestamp: u32, ext_seq: u64) -> bool {
        self.finished
            .iter()
            .any(|&(t, marker)| t == timestamp && marker.is_none_or(|m| ext_seq <= m))
    }

    /// The tables of a first fragment: Appendix A for Q < 128, in-band (and
    /// then cached) or cached for Q 128..=254, in-band for 255.
    pub(super) fn resolve_tables(
        &mut self,
        payload: &JpegPayload<'_>,
    ) -> Result<QuantTables, DropReason> {
        let q = payload.main.q;
        if q < 128 {
            return Ok(appendix_a_tables(q));
        }
        let in_band = payload
            .quant
            .map(|h| h.tables())
            .transpose()
            .map_err(|_| DropReason::MissingTables)?
            .flatten();
        match in_band {
            Some(tables) => {
                if q != 255 {
                    self.cache_tables(q, tables);
                }
                Ok(tables)
            }
            None if q != 255 => self.cached_tables(q).ok_or(DropReason::MissingTables),
            None => Err(DropReason::MissingTables),
        }
    }

    fn cache_tables(&mut self, q: u8, tables: QuantTables) {
        if let Some(entry) = self.quant_cache.iter_mut().find(|(cq, _)| *cq == q) {
            entry.1 = tables;
            return;
        }
        if self.quant_cache.is_full() {
            self.quant_cache.remove(0);
        }
        let _ = self.quant_cache.push((q, tables));
    }

    fn cached_tables(&self, q: u8) -> Option<QuantTables> {
        self.quant_cache
            .iter()
            .find(|(cq, _)| *cq == q)
            .map(|(_, t)| *t)
    }
}
