//! The camera quirks of issue 11, live: the runtime's RTSP client against
//! testkit's scripted misbehaving server (`quirky_rtsp`), one scenario
//! per quirk. Every scenario receives frames and checks each one
//! pixel-exact (every decoder in the build) against the picture the
//! server cut it from, then checks what the quirk implies (keepalives in
//! time, the URL SETUP went to, no reconnect, the drop reason...).
//! Session timeouts are announced scaled down (`timeout=2`) so that the
//! file runs in seconds.
#![cfg(target_os = "linux")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mjpeg_rtp::{CameraConfig, Client, ClientOptions, Frame, RtspTransport, RTP_SILENCE_TIMEOUT};
use mjpeg_rtp_core::{DropReason, Packetizer, PacketizerConfig};
use mjpeg_rtp_testkit::picture::Picture;
use mjpeg_rtp_testkit::quirky_rtsp::{
    digest_challenge, stream_ssrc, Auth, Channels, ContentBase, KeepaliveCseq, Quirks,
    QuirkyServer, Sdp, SessionQuirks, SsrcForm,
};
use mjpeg_rtp_testkit::rtp::frame_packets;
use mjpeg_rtp_tests::assert_same_pixels_every_decoder;

fn client_for(url: String, transport: RtspTransport) -> Client {
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    client
        .add_camera(CameraConfig::rtsp("quirky", url).with_rtsp_transport(transport))
        .unwrap();
    client.start().expect("RTSP session set up");
    client
}

/// Frame `n`, pixel-exact against the picture the server cut it from.
fn next_exact(server: &QuirkyServer, client: &Client, n: usize, what: &str) -> Frame {
    let frame = client
        .next_frame(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("{what}: frame {n} never came: {:?}", client.stats()));
    assert_same_pixels_every_decoder(
        frame.jpeg(),
        server.original_for(frame.timestamp),
        &format!("{what}: frame {n}"),
    );
    frame
}

/// Take `want` frames, each pixel-exact against its picture; their
/// (SSRC, frame number).
fn receive(server: &QuirkyServer, client: &Client, want: usize, what: &str) -> Vec<(u32, usize)> {
    (0..want)
        .map(|n| {
            let frame = next_exact(server, client, n, what);
            (frame.ssrc, QuirkyServer::frame_index(frame.timestamp))
        })
        .collect()
}

/// Receive frames for `period`, each pixel-exact.
fn receive_for(server: &QuirkyServer, client: &Client, period: Duration, what: &str) {
    let end = Instant::now() + period;
    let mut n = 0;
    while Instant::now() < end {
        next_exact(server, client, n, what);
        n += 1;
    }
    assert!(n >= 10, "{what}: only {n} frames in {period:?}");
}

/// No frame dropped by the depacketizer so far (taken before stopping:
/// the frame in flight when the stream ends is dropped as `lost`); stop;
/// TEARDOWN answered 200 (so with the right session id).
fn stop(server: &QuirkyServer, client: Client, what: &str) {
    let stats = client.stats();
    assert_eq!(stats[0].frames_dropped(), 0, "{what}: {stats:?}");
    client.stop();
    let teardown = server.requests_of("TEARDOWN");
    assert!(
        teardown.last().is_some_and(|t| t.status == 200),
        "{what}: {teardown:?}"
    );
}

/// One scenario, TCP: set up, 8 exact frames, stop.
fn scenario(quirks: Quirks, what: &str) -> QuirkyServer {
    scenario_over(quirks, RtspTransport::Tcp, what)
}

fn scenario_over(quirks: Quirks, transport: RtspTransport, what: &str) -> QuirkyServer {
    let server = QuirkyServer::start(quirks);
    let client = client_for(server.url(""), transport);
    receive(&server, &client, 8, what);
    stop(&server, client, what);
    server
}

/// Keepalives (GET_PARAMETER or OPTIONS after PLAY) of connection `n`,
/// with the PLAY before them.
fn keepalives(server: &QuirkyServer) -> (Instant, Vec<mjpeg_rtp_testkit::quirky_rtsp::Seen>) {
    let requests = server.requests();
    let play = requests
        .iter()
        .rposition(|r| r.method == "PLAY")
        .expect("PLAY");
    let after: Vec<_> = requests[play + 1..]
        .iter()
        .filter(|r| matches!(r.method.as_str(), "GET_PARAMETER" | "OPTIONS"))
        .cloned()
        .collect();
    (requests[play].at, after)
}

/// Every gap between PLAY and the keepalives after it under `limit`.
fn assert_kept_alive(server: &QuirkyServer, limit: Duration, at_least: usize, what: &str) {
    let (play, kept) = keepalives(server);
    assert!(kept.len() >= at_least, "{what}: {kept:#?}");
    let mut last = play;
    for k in &kept {
        assert!(k.at - last < limit, "{what}: keepalive late: {kept:#?}");
        last = k.at;
    }
    assert_eq!(
        server.expired(),
        0,
        "{what}: the server expired the session"
    );
}

/// A well-behaved camera but for how it keeps its sessions.
fn with_session(session: SessionQuirks) -> Quirks {
    Quirks {
        session,
        ..Quirks::default()
    }
}

/// `quirks` on a server that expires a session 2 s after its last
/// request: a TCP client receives exact frames for 3.6 s (past the
/// timeout) with its keepalives in time and no reconnect. The caller
/// checks what its quirk implies, then stops.
fn kept_alive_scenario(quirks: Quirks, what: &str) -> (QuirkyServer, Client) {
    let server = QuirkyServer::start(Quirks {
        session: SessionQuirks {
            timeout: Some(2),
            enforce_timeout: true,
            ..quirks.session
        },
        ..quirks
    });
    let client = client_for(server.url(""), RtspTransport::Tcp);
    receive_for(&server, &client, Duration::from_millis(3600), what);
    assert_kept_alive(&server, Duration::from_secs(2), 3, what);
    assert_eq!(
        client.camera_stats("quirky").unwrap().reconnects,
        0,
        "{what}"
    );
    (server, client)
}

#[test]
fn keepalive_advertised_but_refused_falls_back_to_options_and_stays_alive() {
    let what = "405 keepalive";
    let (server, client) = kept_alive_scenario(
        Quirks {
            get_parameter_status: 405,
            ..Quirks::default()
        },
        what,
    );
    let (_, kept) = keepalives(&server);
    assert_eq!(kept[0].method, "GET_PARAMETER");
    assert!(kept[1..].iter().all(|k| k.method == "OPTIONS"), "{kept:#?}");
    stop(&server, client, what);
}

#[test]
fn keepalive_answered_with_a_stale_or_missing_cseq_keeps_the_session() {
    for cseq in [KeepaliveCseq::Stale, KeepaliveCseq::Missing] {
        let what = format!("{cseq:?} CSeq");
        let (server, client) = kept_alive_scenario(
            with_session(SessionQuirks {
                keepalive_cseq: cseq,
                ..SessionQuirks::default()
            }),
            &what,
        );
        stop(&server, client, &what);
    }
}

#[test]
fn session_with_extra_spaces_and_a_short_timeout_is_kept_alive_in_time() {
    // The server answers 454 to a Session id with the spaces left in.
    let (server, client) = kept_alive_scenario(
        with_session(SessionQuirks {
            spaces: true,
            ..SessionQuirks::default()
        }),
        "spaces",
    );
    let (_, kept) = keepalives(&server);
    assert!(kept.iter().all(|k| k.status == 200), "{kept:#?}");
    stop(&server, client, "spaces");
}

#[test]
fn session_without_timeout_assumes_60_s() {
    let server = QuirkyServer::start(with_session(SessionQuirks {
        timeout: None,
        ..SessionQuirks::default()
    }));
    let client = client_for(server.url(""), RtspTransport::Tcp);
    // A client that took the missing timeout for 0 or a few seconds would
    // keepalive in a storm; 60 s means the first one at 30 s.
    receive_for(&server, &client, Duration::from_millis(2500), "no timeout");
    let (_, kept) = keepalives(&server);
    assert!(kept.is_empty(), "{kept:#?}");
    stop(&server, client, "no timeout");
}

#[test]
fn session_id_changing_between_setups_is_followed() {
    // A fresh id at every SETUP; the first connection dropped after 10
    // frames, so that the session is set up again and the keepalives and
    // TEARDOWN of the new one must carry the new id (454 otherwise).
    let server = QuirkyServer::start(Quirks {
        session: SessionQuirks {
            timeout: Some(2),
            new_id_per_setup: true,
            ..SessionQuirks::default()
        },
        close_after_frames: Some(10),
        ..Quirks::default()
    });
    let client = client_for(server.url(""), RtspTransport::Tcp);
    let got = receive(&server, &client, 30, "new id");
    let ssrcs: Vec<u32> = got.iter().map(|(s, _)| *s).collect();
    assert!(
        ssrcs.contains(&stream_ssrc(&Quirks::default(), 1)),
        "{got:?}"
    );
    receive_for(&server, &client, Duration::from_millis(2500), "new id");
    let setups = server.requests_of("SETUP");
    assert!(setups.len() >= 2, "{setups:#?}");
    assert_eq!(client.camera_stats("quirky").unwrap().reconnects, 1);
    let (_, kept) = keepalives(&server);
    assert!(
        !kept.is_empty() && kept.iter().all(|k| k.status == 200 && k.connection == 1),
        "{kept:#?}"
    );

    client.stop();
    let teardown = server.requests_of("TEARDOWN");
    assert_eq!(
        teardown.last().map(|t| t.status),
        Some(200),
        "{teardown:#?}"
    );
    assert_eq!(
        teardown.last().and_then(|t| t.header("Session")),
        Some("QS0001")
    );
}

#[test]
fn content_base_missing_schemeless_doubled_or_only_a_location() {
    for base in [
        ContentBase::Missing,
        ContentBase::NoScheme,
        ContentBase::Doubled,
        ContentBase::LocationOnly,
    ] {
        let what = format!("{base:?}");
        let server = scenario(
            Quirks {
                content_base: base,
                ..Quirks::default()
            },
            &what,
        );
        // The server 404s a SETUP anywhere but where the base leads.
        let setup = server.requests_of("SETUP");
        assert_eq!(setup.len(), 1, "{what}: {setup:#?}");
        let want = match base {
            ContentBase::LocationOnly => "/located/track1",
            _ => "/cam/track1",
        };
        assert!(setup[0].uri.ends_with(want), "{what}: {setup:#?}");
    }
}

#[test]
fn control_is_joined_to_a_query_by_concatenation() {
    let server = scenario(
        Quirks {
            path: "/onvif?channel=1&proto=Onvif".into(),
            control: "/video".into(),
            content_base: ContentBase::Missing,
            ..Quirks::default()
        },
        "onvif query",
    );
    let setup = server.requests_of("SETUP");
    assert!(
        setup[0].uri.ends_with("/onvif?channel=1&proto=Onvif/video"),
        "{setup:#?}"
    );
}

#[test]
fn interleaved_channels_other_than_asked_or_absent_and_data_on_foreign_channels() {
    for (channels, foreign) in [
        (Channels::Other(4, 5), None),
        (Channels::Absent, None),
        (Channels::AsAsked, Some(7)),
        (Channels::Other(2, 3), Some(0)),
    ] {
        scenario(
            Quirks {
                channels,
                foreign_channel: foreign,
                ..Quirks::default()
            },
            &format!("{channels:?}, junk on {foreign:?}"),
        );
    }
}

#[test]
fn ssrc_in_hex_with_or_without_0x_odd_length_or_decimal() {
    for form in [
        SsrcForm::Hex,
        SsrcForm::Hex0x,
        SsrcForm::OddHex,
        SsrcForm::Decimal,
    ] {
        for transport in [RtspTransport::Tcp, RtspTransport::Udp] {
            let what = format!("{form:?} over {transport:?}");
            let quirks = Quirks {
                ssrc: form,
                ..Quirks::default()
            };
            let server = QuirkyServer::start(quirks.clone());
            let client = client_for(server.url(""), transport);
            let got = receive(&server, &client, 6, &what);
            let want = stream_ssrc(&quirks, 0);
            assert!(got.iter().all(|(s, _)| *s == want), "{what}: {got:x?}");
            stop(&server, client, &what);
        }
    }
}

#[test]
fn rtp_info_with_seq_0_rtptime_0_trailing_semicolon_and_relative_url() {
    for info in [
        "url={url};seq=0;rtptime=0;",
        "url={rel};seq=0;rtptime=0",
        "url=trackID=0;seq=0;rtptime=0;,",
    ] {
        scenario(
            Quirks {
                rtp_info: Some(info.into()),
                ..Quirks::default()
            },
            info,
        );
    }
}

#[test]
fn broken_sdp_is_repaired() {
    for sdp in [
        Sdp::TruncatedOrigin,
        Sdp::TruncatedConnection,
        Sdp::ExtraOriginField,
        Sdp::AttributesOutOfOrder,
        Sdp::NoTime,
    ] {
        scenario(
            Quirks {
                sdp,
                ..Quirks::default()
            },
            &format!("{sdp:?}"),
        );
    }
}

#[test]
fn sender_reports_for_an_unknown_ssrc_break_nothing() {
    for transport in [RtspTransport::Tcp, RtspTransport::Udp] {
        scenario_over(
            Quirks {
                foreign_sender_reports: true,
                ..Quirks::default()
            },
            transport,
            &format!("foreign SR over {transport:?}"),
        );
    }
}

#[test]
fn q_above_127_without_tables_before_the_first_frame_that_carries_them() {
    const FIRST_WITH_TABLES: usize = 3;
    let server = QuirkyServer::start(Quirks {
        q_tables: Some((200, FIRST_WITH_TABLES)),
        ..Quirks::default()
    });
    let client = client_for(server.url(""), RtspTransport::Tcp);
    let got = receive(&server, &client, 8, "Q 200");
    let first = got.first().map(|(_, n)| *n);
    assert_eq!(first, Some(FIRST_WITH_TABLES), "{got:?}");
    // Later frames (no tables, Q 200 cached) complete and exact; the
    // consumer may skip some (the decoded-frame queue drops the oldest
    // while this test decodes each frame again with every decoder).
    assert!(got.windows(2).all(|w| w[0].1 < w[1].1), "{got:?}");

    let stats = client.stats();
    client.stop();
    // Exactly the three without tables: frame 0, which the server writes
    // in the same TCP segment as the PLAY answer, reached the
    // depacketizer too (it used to be lost with the read that carried the
    // answer).
    let drops = &stats[0].streams[0].frames_dropped;
    assert_eq!(
        drops.get(DropReason::MissingTables),
        FIRST_WITH_TABLES as u64,
        "{stats:?}"
    );
    assert_eq!(drops.total(), FIRST_WITH_TABLES as u64, "{stats:?}");
}

#[test]
fn several_digest_challenges_md5_sha256_qop_and_no_qop() {
    for challenges in [
        vec![
            digest_challenge("MD5", false),
            digest_challenge("SHA-256", true),
        ],
        vec![
            "Basic realm=\"quirks\"".to_owned(),
            digest_challenge("MD5", true),
        ],
        vec![digest_challenge("MD5", false)],
    ] {
        let what = format!("{challenges:?}");
        let server = QuirkyServer::start(Quirks {
            auth: Some(Auth {
                challenges,
                user: "viewer".into(),
                password: "s3cret".into(),
            }),
            ..Quirks::default()
        });
        let client = client_for(server.url("viewer:s3cret@"), RtspTransport::Tcp);
        receive(&server, &client, 6, &what);
        stop(&server, client, &what);
        let refused = server.requests().iter().filter(|r| r.status == 401).count();
        assert_eq!(refused, 1, "{what}: answered once, then accepted");
    }
}

#[test]
fn redirect_is_followed() {
    let quirks = Quirks {
        redirect_from: Some("/old".into()),
        ..Quirks::default()
    };
    let server = QuirkyServer::start(quirks);
    let client = client_for(server.url_of("", "/old"), RtspTransport::Tcp);
    receive(&server, &client, 8, "redirect");
    stop(&server, client, "redirect");
    let requests = server.requests();
    assert_eq!(requests[0].status, 302, "{requests:#?}");
    assert!(server.connections() >= 2);
    assert!(
        requests[1..].iter().all(|r| r.uri.contains("/cam")),
        "{requests:#?}"
    );
}

#[test]
fn keepalive_answered_501_switches_to_options_at_once_each_naming_the_session() {
    // The server counts only requests naming the session as keepalives,
    // and expires it 2 s after the last one.
    let what = "501 keepalive";
    let (server, client) = kept_alive_scenario(
        Quirks {
            get_parameter_status: 501,
            ..Quirks::default()
        },
        what,
    );
    let (_, kept) = keepalives(&server);
    assert_eq!(
        (kept[0].method.as_str(), kept[0].status),
        ("GET_PARAMETER", 501)
    );
    assert_eq!(kept[1].method, "OPTIONS", "{kept:#?}");
    assert!(
        kept[1].at - kept[0].at < Duration::from_millis(300),
        "OPTIONS right after the 501: {kept:#?}"
    );
    assert!(
        kept.iter().all(|k| k.header("Session") == Some("QS0000")),
        "{kept:#?}"
    );
    stop(&server, client, what);
}

#[test]
fn redirect_to_another_server_takes_no_credentials_there() {
    // The redirect's target asks for a password; whatever it receives,
    // it records.
    let target = QuirkyServer::start(Quirks {
        auth: Some(Auth {
            challenges: vec![
                "Basic realm=\"elsewhere\"".to_owned(),
                digest_challenge("MD5", true),
            ],
            user: "viewer".into(),
            password: "s3cret".into(),
        }),
        ..Quirks::default()
    });
    let front = QuirkyServer::start(Quirks {
        redirect_from: Some("/cam".into()),
        redirect_to: Some(target.url("")),
        ..Quirks::default()
    });
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    client
        .add_camera(
            CameraConfig::rtsp("quirky", front.url("viewer:s3cret@"))
                .with_rtsp_transport(RtspTransport::Tcp),
        )
        .unwrap();
    let error = client.start().expect_err("no credentials for the target");
    assert!(error.to_string().contains("401"), "{error}");
    assert!(!error.to_string().contains("s3cret"), "{error}");
    let front_requests = front.requests();
    assert_eq!(front_requests[0].status, 302, "{front_requests:#?}");
    let received = target.requests();
    assert!(!received.is_empty(), "the redirect was not followed");
    assert!(
        received.iter().all(|r| r.header("Authorization").is_none()),
        "credentials went to another server: {received:#?}"
    );
}

#[test]
fn rtcp_bye_from_the_sender_ends_the_session_at_once() {
    for transport in [RtspTransport::Tcp, RtspTransport::Udp] {
        let what = format!("BYE over {transport:?}");
        let server = QuirkyServer::start(Quirks {
            bye_after_frames: Some(10),
            ..Quirks::default()
        });
        let client = client_for(server.url(""), transport);
        receive(&server, &client, 8, &what);
        // A client waiting for the stream to fall silent would take 10 s.
        let deadline = Instant::now() + Duration::from_secs(3);
        while client.camera_stats("quirky").unwrap().reconnects == 0 {
            assert!(Instant::now() < deadline, "{what}: no reconnect after BYE");
            std::thread::sleep(Duration::from_millis(20));
        }
        let got = receive(&server, &client, 8, &what);
        assert!(
            got.iter()
                .any(|(s, _)| *s == stream_ssrc(&Quirks::default(), 1)),
            "{what}: {got:?}"
        );
        client.stop();
        assert!(server.connections() >= 2, "{what}");
    }
}

#[test]
fn stop_tears_down_every_camera_at_once_within_the_teardown_bound() {
    // Four cameras whose servers never answer TEARDOWN: each waits its
    // 1 s, all at the same time.
    let servers: Vec<QuirkyServer> = (0..4)
        .map(|_| {
            QuirkyServer::start(Quirks {
                teardown_unanswered: true,
                ..Quirks::default()
            })
        })
        .collect();
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    for (i, server) in servers.iter().enumerate() {
        client
            .add_camera(
                CameraConfig::rtsp(format!("cam{i}"), server.url(""))
                    .with_rtsp_transport(RtspTransport::Tcp),
            )
            .unwrap();
    }
    client.start().expect("RTSP sessions set up");
    for n in 0..8 {
        client
            .next_frame(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("frame {n} never came"));
    }
    let stopping = Instant::now();
    client.stop();
    let took = stopping.elapsed();
    assert!(took < Duration::from_millis(1600), "stop took {took:?}");
    for server in &servers {
        assert_eq!(server.requests_of("TEARDOWN").len(), 1);
    }
}

#[test]
fn a_silent_stream_is_lost_at_the_silence_timeout() {
    // Each camera's stream stops after 32 frames, its RTSP connection
    // still answering. The last frame goes 1.24 s after PLAY, just past a
    // whole second of the session: a session looking for the silence once
    // a second would notice it some 0.8 s after the timeout; it must be
    // noticed at the timeout after the last packet. Meanwhile another
    // host (a stale source) keeps sending RTP to the UDP camera's port:
    // refused as foreign, it must not count as the stream being alive.
    let servers: Vec<QuirkyServer> = (0..2)
        .map(|_| {
            QuirkyServer::start(Quirks {
                silent_after_frames: Some(32),
                ..Quirks::default()
            })
        })
        .collect();
    let mut client = Client::new(ClientOptions {
        decode_threads: 1,
        ..ClientOptions::default()
    });
    for (server, transport) in servers.iter().zip([RtspTransport::Udp, RtspTransport::Tcp]) {
        let camera = CameraConfig::rtsp(format!("{transport:?}"), server.url(""))
            .with_rtsp_transport(transport);
        client.add_camera(camera).unwrap();
    }
    client.start().expect("RTSP sessions set up");
    let udp = client
        .stats()
        .into_iter()
        .find(|c| c.camera_id == "Udp")
        .expect("the UDP camera");
    let stale_stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| send_stale(udp.local_addr.port(), &stale_stop));
        await_silence_teardowns(&servers);
        stale_stop.store(true, Ordering::Relaxed);
    });
    let udp = client.stats().into_iter().find(|c| c.camera_id == "Udp");
    let foreign = udp.expect("the UDP camera").packets_foreign;
    assert!(foreign > 10, "the stale source's datagrams: {foreign}");
    // Both sessions set up again.
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.stats().iter().any(|c| c.reconnects == 0) {
        assert!(
            Instant::now() < deadline,
            "no reconnect: {:?}",
            client.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    client.stop();
}

/// From 127.0.0.2 (not the server's address), RTP packets of a frame of
/// another SSRC to `port` on loopback, one every 50 ms until `stop` (or,
/// should the test fail first, for longer than it can last).
fn send_stale(port: u16, stop: &AtomicBool) {
    let give_up = Instant::now() + RTP_SILENCE_TIMEOUT + Duration::from_secs(10);
    let socket = std::net::UdpSocket::bind(("127.0.0.2", 0)).expect("bind 127.0.0.2");
    let mut packetizer = Packetizer::new(PacketizerConfig {
        ssrc: 0x0A0A_0A0A,
        ..PacketizerConfig::default()
    });
    let jpeg = Picture::new(64, 48).encode();
    let packets = frame_packets(&mut packetizer, &jpeg, 0);
    for packet in packets.iter().cycle() {
        if stop.load(Ordering::Relaxed) || Instant::now() > give_up {
            break;
        }
        socket
            .send_to(packet, ("127.0.0.1", port))
            .expect("send to the camera");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each server's first connection torn down for silence, on time.
fn await_silence_teardowns(servers: &[QuirkyServer]) {
    let deadline = Instant::now() + RTP_SILENCE_TIMEOUT + Duration::from_secs(5);
    for (server, transport) in servers.iter().zip(["UDP", "TCP"]) {
        let teardown = loop {
            let first = server.requests_of("TEARDOWN").into_iter().next();
            if let Some(teardown) = first.filter(|t| t.connection == 0) {
                break teardown;
            }
            assert!(
                Instant::now() < deadline,
                "{transport}: silence not noticed"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let silent_since = server.silent_since().expect("the stream fell silent");
        let noticed = teardown.at - silent_since;
        assert!(
            noticed >= RTP_SILENCE_TIMEOUT
                && noticed < RTP_SILENCE_TIMEOUT + Duration::from_millis(400),
            "{transport}: silence noticed {noticed:?} after the last frame"
        );
    }
}
