//! [`Client::start`], step by step: settle every camera's decode plan, set
//! up the RTSP sessions, start the decode workers, give each camera's
//! socket (or RTSP connection) its receive path, start the session and
//! RTCP threads, then the backend.
//!
//! An error at any step stops the client: RTSP sessions already set up
//! are torn down (explicitly where they are still at hand, by `Link`'s
//! `Drop` where an error drops them), and threads already started are
//! joined, so a failed start leaves nothing running.

use std::net::{IpAddr, UdpSocket};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::{lock, Client, Phase};
use crate::backend::{CameraIngest, CameraSocket, Spawned};
use crate::camera::CameraShared;
use crate::config::Delivery;
use crate::decode::RgbDecoder;
use crate::error::Error;
use crate::output::DecodeJob;
use crate::rtsp::{Established, Link};
use crate::threads::spawn_all;
use crate::workers::DecodePlan;

/// An RTSP session for its thread; with the camera's ingest when RTP is
/// interleaved on the connection (the session thread is then the
/// camera's receive path).
type Session = (Link, Option<CameraIngest>, Arc<CameraShared>);
/// A plain UDP camera's RTCP socket, with its accepted sender.
type PlainRtcp = (UdpSocket, Option<IpAddr>, Arc<CameraShared>);

/// Every camera's receive path, as `start` hands them out.
#[derive(Default)]
struct ReceivePaths {
    /// Sockets for the backend (plain UDP cameras, RTSP over UDP).
    sockets: Vec<CameraSocket>,
    sessions: Vec<Session>,
    plain_rtcp: Vec<PlainRtcp>,
}

impl Client {
    /// Start the decode workers and the receive backend.
    pub fn start(&mut self) -> Result<(), Error> {
        match self.phase() {
            Phase::Configuring => {}
            Phase::Running => return Err(Error::AlreadyStarted),
            Phase::Stopped => return Err(Error::Stopped),
        }
        if self.cameras.is_empty() {
            return Err(Error::NoCamera);
        }
        // Settled before any RTSP session is set up, so that bad options
        // leave no session behind.
        self.plans = self.decode_plans()?;
        let Some(backend) = lock(&self.backend).take() else {
            return Err(Error::Stopped);
        };
        // RTSP cameras first: a refused session is this call's error, and
        // the SDP's payload type configures the depacketizer.
        let mut playing = match self.establish_rtsp() {
            Ok(p) => p,
            Err(e) => {
                self.stop();
                return Err(e);
            }
        };
        let decode_threads = self.decode_threads_to_start();
        // Room for every camera to have a few frames waiting: a deeper
        // backlog only adds latency.
        let backlog = 4 * self.cameras.len() + decode_threads;
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded(backlog);
        // From here on an error stops the client: the RTSP sessions just
        // set up are torn down.
        if let Err(e) = self.start_decode_workers(decode_threads, jobs_rx) {
            for p in playing.iter_mut().flatten() {
                p.link.teardown();
            }
            self.stop();
            return Err(e);
        }
        let paths = self.hand_out_receive_paths(playing, &jobs_tx);
        // The ingests hold the only senders now: the backlog closes when
        // the last receive path ends.
        drop(jobs_tx);
        let receivers = match self.start_session_threads(paths.sessions, paths.plain_rtcp) {
            Ok(receivers) => receivers,
            Err(e) => {
                self.stop();
                return Err(e);
            }
        };
        let run = match paths.sockets.is_empty() {
            // Nothing for the backend: it stays the one chosen.
            true => Ok(Spawned {
                backend: backend.name(),
                threads: Vec::new(),
            }),
            false => backend.run(paths.sockets, self.stop.clone()),
        };
        lock(&self.threads).receivers = receivers;
        match run {
            Ok(spawned) => {
                lock(&self.threads).receivers.extend(spawned.threads);
                // The backend that receives, should the chosen one have
                // fallen back.
                self.backend_name = spawned.backend;
                *lock(&self.phase) = Phase::Running;
                log::info!(
                    "receiving {} camera(s) with the {} backend, {} decode thread(s)",
                    self.cameras.len(),
                    self.backend_name,
                    decode_threads
                );
                Ok(())
            }
            Err(e) => {
                self.stop();
                Err(e)
            }
        }
    }

    /// Each camera's decode plan, by its index (the decode jobs carry
    /// it); an option its decoder cannot honour is the camera's error.
    fn decode_plans(&self) -> Result<Arc<[DecodePlan]>, Error> {
        self.cameras
            .iter()
            .map(|c| {
                let plan = DecodePlan {
                    rgb: c.config.decode_rgb.unwrap_or(self.decode_rgb),
                    options: c.config.decode.unwrap_or(self.decode_options),
                };
                if plan.rgb {
                    plan.options
                        .check(self.decoder)
                        .map_err(|source| Error::DecodeOptions {
                            camera: c.config.id.clone(),
                            source,
                        })?;
                }
                Ok(plan)
            })
            .collect::<Result<Vec<_>, Error>>()
            .map(Into::into)
    }

    /// Only queue delivery hands frames to the decode workers (a latest
    /// frame is decoded by whoever takes it): with no queue camera, no
    /// worker is started, so none wakes to look at the stop flag.
    fn decode_threads_to_start(&self) -> usize {
        let latest_only = self
            .cameras
            .iter()
            .all(|c| c.config.delivery == Delivery::Latest);
        if latest_only {
            0
        } else {
            self.decode_threads
        }
    }

    /// `count` decode workers reading `jobs`; `stop` counts what they
    /// leave there.
    fn start_decode_workers(
        &self,
        count: usize,
        jobs: crossbeam_channel::Receiver<DecodeJob>,
    ) -> Result<(), Error> {
        let decoders = (0..count)
            .map(|_| RgbDecoder::new(self.decoder))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Error::Decoder)?;
        let workers = crate::workers::spawn(decoders, self.plans.clone(), &jobs, &self.stop)
            .map_err(Error::Spawn)?;
        let mut threads = lock(&self.threads);
        threads.workers = workers;
        threads.backlog = Some(jobs);
        Ok(())
    }

    /// Give every camera its ingest (sending decode jobs to `jobs`) and
    /// sort them by receive path: a socket for the backend, an RTSP
    /// session thread (which receives interleaved RTP itself), a plain
    /// camera's RTCP thread. `playing` holds the RTSP cameras' sessions,
    /// by camera index.
    fn hand_out_receive_paths(
        &mut self,
        playing: Vec<Option<Established>>,
        jobs: &crossbeam_channel::Sender<DecodeJob>,
    ) -> ReceivePaths {
        let mut paths = ReceivePaths::default();
        for (c, playing) in self.cameras.iter_mut().zip(playing) {
            if c.config.rtsp.is_none() {
                if let Some(rtcp) = c.rtcp.take() {
                    paths
                        .plain_rtcp
                        .push((rtcp, c.config.sender, c.shared.clone()));
                }
            }
            let (config, bound, link) = match playing {
                None => (&c.config, c.socket.take(), None),
                Some(p) => {
                    c.config = p.config;
                    // A multicast group's socket is bound only now.
                    if let Some(pair) = &p.pair {
                        c.shared.set_local_addr(pair.rtp.local_addr);
                    }
                    (&c.config, p.pair.map(|p| p.rtp), Some(p.link))
                }
            };
            let ingest = CameraIngest::new(
                config,
                c.shared.clone(),
                self.epoch,
                jobs.clone(),
                self.stop.clone(),
                self.output.clone(),
            );
            match (bound, link) {
                (Some(bound), link) => {
                    paths.sockets.push(CameraSocket {
                        socket: bound.socket,
                        ingest,
                        rxq_ovfl: bound.rxq_ovfl,
                    });
                    paths
                        .sessions
                        .extend(link.map(|l| (l, None, c.shared.clone())));
                }
                // Interleaved RTP: the session thread is the receive path.
                (None, Some(link)) => paths.sessions.push((link, Some(ingest), c.shared.clone())),
                (None, None) => {}
            }
        }
        paths
    }

    /// The RTSP session threads and the plain cameras' RTCP threads, all
    /// or none.
    fn start_session_threads(
        &self,
        sessions: Vec<Session>,
        plain_rtcp: Vec<PlainRtcp>,
    ) -> Result<Vec<JoinHandle<()>>, Error> {
        type Run = Box<dyn FnOnce() + Send>;
        let mut threads: Vec<(&str, Run)> = Vec::new();
        let wakes = crate::rtsp::Wake::new()
            .and_then(|wake| {
                let clones = (0..sessions.len())
                    .map(|_| wake.try_clone())
                    .collect::<std::io::Result<Vec<_>>>()?;
                *lock(&self.wake) = Some(wake);
                Ok(clones)
            })
            .map_err(Error::Spawn)?;
        for ((link, ingest, shared), wake) in sessions.into_iter().zip(wakes) {
            let stop = self.stop.clone();
            let run = move || link.run(ingest, shared, stop, wake);
            threads.push(("mjpeg-rtp-rtsp", Box::new(run)));
        }
        for (socket, sender, shared) in plain_rtcp {
            let stop = self.stop.clone();
            let run = move || crate::rtcp::run_plain(socket, sender, shared, stop);
            threads.push(("mjpeg-rtp-rtcp", Box::new(run)));
        }
        spawn_all(threads, &self.stop, |t| t.0.into(), |(_, run)| run()).map_err(Error::Spawn)
    }

    /// Set up every RTSP camera's session (in parallel), up to PLAY: one
    /// entry per camera, `None` for the others. On an error the sessions
    /// already set up are torn down.
    fn establish_rtsp(&mut self) -> Result<Vec<Option<Established>>, Error> {
        let stop = &*self.stop;
        let results: Vec<Option<Result<Established, Error>>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .cameras
                .iter_mut()
                .map(|c| {
                    c.config.rtsp.as_ref()?;
                    let config = c.config.clone();
                    let pair = match (c.socket.take(), c.rtcp.take()) {
                        (Some(rtp), Some(rtcp)) => Some(crate::socket::PortPair { rtp, rtcp }),
                        _ => None,
                    };
                    Some(s.spawn(move || crate::rtsp::establish(&config, pair, stop)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::Spawn(std::io::Error::other("RTSP setup panicked")))
                        })
                    })
                })
                .collect()
        });
        let mut playing = Vec::with_capacity(results.len());
        let mut first_error = None;
        for result in results {
            match result {
                None => playing.push(None),
                Some(Ok(p)) => playing.push(Some(p)),
                Some(Err(e)) => {
                    first_error.get_or_insert(e);
                    playing.push(None);
                }
            }
        }
        match first_error {
            None => Ok(playing),
            Some(e) => {
                for p in playing.iter_mut().flatten() {
                    p.link.teardown();
                }
                Err(e)
            }
        }
    }
}
