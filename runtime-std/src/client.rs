//! The multi-camera client: add cameras, start (`start`: its steps), take
//! frames, stop.

mod batch;
mod start;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::backend::{ReceiveBackend, StdBackend};
use crate::camera::CameraShared;
use crate::config::{CameraConfig, RtspTransport};
use crate::decode::{DecodeOptions, Decoder, RgbDecoder};
use crate::epoch::Epoch;
use crate::error::Error;
use crate::frame::Frame;
use crate::output::{DecodeJob, Output, Ready};
use crate::socket::{bind_camera, BoundSocket};
use crate::stats::CameraStats;
use crate::workers::DecodePlan;

/// Client-wide settings.
pub struct ClientOptions {
    /// Decode threads; 0 means one per available CPU. None are started
    /// when every camera has latest delivery (its frames are decoded by
    /// whoever takes them). Also the most threads one
    /// [`Client::get_frames`] decodes its batch on.
    pub decode_threads: usize,
    /// How datagrams are received ([`StdBackend`] by default).
    pub backend: Box<dyn ReceiveBackend>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            decode_threads: 0,
            backend: Box::new(StdBackend::default()),
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("decode_threads", &self.decode_threads)
            .field("backend", &self.backend.name())
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Configuring,
    Running,
    Stopped,
}

struct Camera {
    config: CameraConfig,
    shared: Arc<CameraShared>,
    /// Until `start` hands it to the backend.
    socket: Option<BoundSocket>,
    /// An RTSP camera's RTCP socket, the odd port above `socket`'s; or a
    /// plain-UDP camera's with `rtcp` on.
    rtcp: Option<std::net::UdpSocket>,
}

/// Receives, reassembles and decodes frames from any number of cameras.
///
/// ```no_run
/// use mjpeg_rtp::{CameraConfig, Client, ClientOptions};
/// use std::time::Duration;
///
/// let mut client = Client::new(ClientOptions::default());
/// client.add_camera(CameraConfig::new("door", "0.0.0.0:5004".parse()?))?;
/// client.start()?;
/// while let Some(frame) = client.next_frame(Duration::from_secs(1)) {
///     let (h, w, _) = frame.shape();
///     println!("{}: {w}x{h}", frame.camera_id());
/// }
/// client.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client {
    /// Until `start`; in a mutex so that the client is `Sync`.
    backend: Mutex<Option<Box<dyn ReceiveBackend>>>,
    backend_name: &'static str,
    decode_threads: usize,
    /// Decode to RGB (the default) or pass the JPEG through.
    decode_rgb: bool,
    /// Which library decodes, when decoding.
    decoder: Decoder,
    /// Size and exactness of cameras that set none of their own.
    decode_options: DecodeOptions,
    cameras: Vec<Camera>,
    /// What becomes of each camera's frames, by camera index; settled by
    /// `start`.
    plans: Arc<[DecodePlan]>,
    /// Decoders not in use, for latest-delivery frames decoded by whoever
    /// takes them.
    spare_decoders: Mutex<Vec<RgbDecoder>>,
    output: Arc<Output>,
    stop: Arc<AtomicBool>,
    /// Wakes the RTSP session threads (which sleep until their next
    /// deadline) when `stop` is set; made by `start`.
    wake: Mutex<Option<crate::rtsp::Wake>>,
    /// Receive and decode threads, joined by `stop`.
    threads: Mutex<Threads>,
    epoch: Epoch,
    phase: Mutex<Phase>,
}

#[derive(Default)]
struct Threads {
    receivers: Vec<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    /// The decode backlog, as the workers read it: what they leave there
    /// at stop is counted from it once every thread has ended.
    backlog: Option<crossbeam_channel::Receiver<DecodeJob>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("backend", &self.backend_name)
            .field("cameras", &self.cameras.len())
            .field("phase", &self.phase())
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(options: ClientOptions) -> Self {
        let decode_threads = match options.decode_threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        Client {
            backend_name: options.backend.name(),
            backend: Mutex::new(Some(options.backend)),
            decode_threads,
            decode_rgb: true,
            decoder: Decoder::default(),
            decode_options: DecodeOptions::default(),
            cameras: Vec::new(),
            plans: Arc::new([]),
            spare_decoders: Mutex::new(Vec::new()),
            output: Arc::new(Output::default()),
            stop: Arc::new(AtomicBool::new(false)),
            wake: Mutex::new(None),
            threads: Mutex::new(Threads::default()),
            epoch: Epoch::new(),
            phase: Mutex::new(Phase::Configuring),
        }
    }

    /// JPEG passthrough: with `false`, frames are delivered without RGB
    /// decode ([`Frame::rgb`] is empty; [`Frame::jpeg`] is the frame),
    /// for consumers that decode elsewhere or only store. Default `true`.
    /// Only before [`Client::start`]; later calls are ignored.
    pub fn set_decode(&mut self, decode_rgb: bool) {
        if self.phase() == Phase::Configuring {
            self.decode_rgb = decode_rgb;
        }
    }

    /// The JPEG decoder ([`Decoder::Zune`] by default). An error when
    /// this build lacks it ([`Decoder::is_available`]), rather than a
    /// silent fallback. Only before [`Client::start`]; later calls are
    /// ignored.
    pub fn set_decoder(&mut self, decoder: Decoder) -> Result<(), Error> {
        if !decoder.is_available() {
            return Err(Error::DecoderUnavailable(decoder));
        }
        if self.phase() == Phase::Configuring {
            self.decoder = decoder;
        }
        Ok(())
    }

    /// Size and exactness of the RGB of every camera that sets none of
    /// its own ([`CameraConfig::decode`]): full size, exact by default.
    /// Options that cannot be honoured at all are an error here; options
    /// the decoder cannot honour (`fast` without libjpeg-turbo) are an
    /// error from [`Client::start`], once the decoder is settled. Only
    /// before [`Client::start`]; later calls are ignored.
    pub fn set_decode_options(&mut self, options: DecodeOptions) -> Result<(), Error> {
        options.validate().map_err(|source| Error::DecodeOptions {
            camera: String::new(),
            source,
        })?;
        if self.phase() == Phase::Configuring {
            self.decode_options = options;
        }
        Ok(())
    }

    /// Name of the receive backend: the one chosen until [`Client::start`],
    /// then the one receiving (std sockets where io_uring fell back at
    /// start).
    pub fn backend_name(&self) -> &'static str {
        self.backend_name
    }

    /// Validate `config` and bind its socket now, so that a port that
    /// cannot be bound is reported here. Only before [`Client::start`].
    pub fn add_camera(&mut self, config: CameraConfig) -> Result<(), Error> {
        match self.phase() {
            Phase::Configuring => {}
            Phase::Running => return Err(Error::AlreadyStarted),
            Phase::Stopped => return Err(Error::Stopped),
        }
        config.validate()?;
        if self.cameras.iter().any(|c| c.config.id == config.id) {
            return Err(Error::DuplicateCamera(config.id));
        }
        // Two cameras on one multicast group and port would share the
        // socket's datagrams (SO_REUSEADDR is on for groups): refuse it
        // here with a clear reason. For unicast the bind itself fails.
        if config.bind.port() != 0 && self.cameras.iter().any(|c| c.config.bind == config.bind) {
            return Err(Error::Config {
                camera: config.id,
                reason: "another camera of this client is bound to the same address",
            });
        }
        let (socket, rtcp) = match &config.rtsp {
            None if config.rtcp => {
                let (rtp, rtcp) = crate::rtcp::bind_plain(&config)?;
                (Some(rtp), Some(rtcp))
            }
            None => (Some(bind_camera(&config)?), None),
            // TCP has no local port; a multicast group's ports are the
            // server's choice, bound once SETUP names them.
            Some(r) if matches!(r.transport, RtspTransport::Tcp | RtspTransport::Multicast) => {
                (None, None)
            }
            Some(_) => {
                let pair = crate::socket::bind_pair(&config)?;
                (Some(pair.rtp), Some(pair.rtcp))
            }
        };
        // Over TCP there is no local port: the unspecified address says so.
        let (local_addr, receive_buffer) = socket
            .as_ref()
            .map_or((config.bind, 0), |s| (s.local_addr, s.receive_buffer));
        let index = self.output.add_camera(config.queue_depth);
        let shared = CameraShared::new(index, &config, local_addr, receive_buffer);
        match &config.rtsp {
            None => log::info!(
                "camera {:?}: listening on {local_addr}{}",
                config.id,
                config
                    .sender
                    .map(|s| format!(" for {s}"))
                    .unwrap_or_default()
            ),
            Some(r) => log::info!(
                "camera {:?}: RTSP {} ({:?}), RTP port {local_addr}",
                config.id,
                url::Url::parse(&r.url).map_or_else(|_| "?".into(), |u| mjpeg_rtp_rtsp::redact(&u)),
                r.transport
            ),
        }
        self.cameras.push(Camera {
            config,
            shared,
            socket,
            rtcp,
        });
        Ok(())
    }

    /// The address a camera is bound to (its port resolved when 0 was
    /// configured).
    pub fn local_addr(&self, camera_id: &str) -> Option<SocketAddr> {
        self.camera(camera_id).map(|c| c.shared.local_addr())
    }

    /// Ids of the cameras, in the order they were added.
    pub fn camera_ids(&self) -> impl Iterator<Item = &str> {
        self.cameras.iter().map(|c| c.config.id.as_str())
    }

    /// Stop receiving and decoding and join every thread. Returns within
    /// about the backend's read timeout plus one frame's decode time.
    /// Frames already queued can still be taken afterwards. Idempotent.
    /// May be called from any thread, also while others wait in
    /// [`Client::get_frame`] (they return once the queue is empty).
    pub fn stop(&self) {
        {
            let mut phase = lock(&self.phase);
            if *phase == Phase::Stopped {
                return;
            }
            *phase = Phase::Stopped;
        }
        self.stop.store(true, Ordering::Relaxed);
        if let Some(wake) = lock(&self.wake).as_ref() {
            wake.wake();
        }
        let Threads {
            receivers,
            workers,
            backlog,
        } = std::mem::take(&mut *lock(&self.threads));
        for handle in receivers {
            if handle.join().is_err() {
                log::error!("a receive thread panicked");
            }
        }
        for handle in workers {
            if handle.join().is_err() {
                log::error!("a decode thread panicked");
            }
        }
        // Every sender (the receive paths) and every worker has ended:
        // what still waits for a decoder is given up, counted.
        for job in backlog.iter().flat_map(|b| b.try_iter()) {
            job.camera
                .frames_dropped_stopping
                .fetch_add(1, Ordering::Relaxed);
        }
        self.output.close();
    }

    /// Whether the client is running (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.phase() == Phase::Running
    }

    fn phase(&self) -> Phase {
        *lock(&self.phase)
    }

    /// The next frame of `camera_id`, waiting up to `timeout`: the
    /// oldest queued (queue delivery) or the newest complete, decoded
    /// now on this thread (latest delivery, [`Delivery`](crate::Delivery)).
    /// `None` on timeout, for an unknown camera, or once stopped with
    /// nothing left.
    pub fn get_frame(&self, camera_id: &str, timeout: Duration) -> Option<Frame> {
        let camera = self.camera(camera_id)?;
        self.take(Some(camera.shared.index), timeout)
    }

    /// The next frame of any camera, the one that has waited longest,
    /// waiting up to `timeout`. Frames of one camera come in RTP
    /// timestamp order.
    pub fn next_frame(&self, timeout: Duration) -> Option<Frame> {
        self.take(None, timeout)
    }

    fn take(&self, camera: Option<usize>, timeout: Duration) -> Option<Frame> {
        let deadline = std::time::Instant::now().checked_add(timeout);
        loop {
            let left = deadline.map_or(timeout, |d| {
                d.saturating_duration_since(std::time::Instant::now())
            });
            let frame = match self.output.pop(camera, left)? {
                Ready::Decoded(frame) => Some(frame),
                Ready::Undecoded(job) => self.decode_taken(job),
            };
            // A taken frame that failed to decode was counted; wait on
            // for the next one.
            if let Some(frame) = frame {
                self.count_delivered(&frame);
                return Some(frame);
            }
        }
    }

    /// `frame` goes to the consumer: count it in its camera's stats.
    fn count_delivered(&self, frame: &Frame) {
        if let Some(camera) = self.camera(frame.camera_id()) {
            camera
                .shared
                .frames_delivered
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Decode a latest-delivery frame for its taker, on the taker's
    /// thread, with a spare decoder.
    fn decode_taken(&self, job: DecodeJob) -> Option<Frame> {
        let plan = self
            .plans
            .get(job.camera.index)
            .copied()
            .unwrap_or_default();
        if !plan.rgb {
            return crate::workers::decode(job, None, &plan.options);
        }
        let spare = lock(&self.spare_decoders).pop();
        let mut decoder = match spare {
            Some(decoder) => decoder,
            // Checked available at `set_decoder`: cannot fail but for
            // memory.
            None => match RgbDecoder::new(self.decoder) {
                Ok(decoder) => decoder,
                Err(e) => {
                    log::error!("cannot make a {} decoder: {e}", self.decoder.name());
                    return None;
                }
            },
        };
        let frame = crate::workers::decode(job, Some(&mut decoder), &plan.options);
        lock(&self.spare_decoders).push(decoder);
        frame
    }

    /// Decoded frames waiting for `camera_id`.
    pub fn queued(&self, camera_id: &str) -> usize {
        self.camera(camera_id)
            .map_or(0, |c| self.output.queued(c.shared.index))
    }

    /// Counters of every camera, in the order they were added.
    pub fn stats(&self) -> Vec<CameraStats> {
        self.cameras.iter().map(|c| c.shared.snapshot()).collect()
    }

    /// Counters of one camera.
    pub fn camera_stats(&self, camera_id: &str) -> Option<CameraStats> {
        self.camera(camera_id).map(|c| c.shared.snapshot())
    }

    fn camera(&self, camera_id: &str) -> Option<&Camera> {
        self.cameras.iter().find(|c| c.config.id == camera_id)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop();
    }
}
