//! CPU accounting: user + system time of this process, of its waited-for
//! children (getrusage), and of single threads (their CPU-time clocks).
//! Where the platform has none of these, times read as zero.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// CPU time (user + system) of this process, or of its waited-for
/// children.
#[cfg(unix)]
pub fn cpu_time(children: bool) -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let who = if children {
        UsageWho::RUSAGE_CHILDREN
    } else {
        UsageWho::RUSAGE_SELF
    };
    match getrusage(who) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

#[cfg(not(unix))]
pub fn cpu_time(_children: bool) -> Duration {
    Duration::ZERO
}

/// CPU and wall time of `f`.
pub fn measure<T>(f: impl FnOnce() -> Result<T>) -> Result<(Duration, Duration, T)> {
    let (c0, t0) = (cpu_time(false), Instant::now());
    let out = f()?;
    Ok((cpu_time(false) - c0, t0.elapsed(), out))
}

/// Children's CPU and wall time of one run of `command` (no stdin, stdout
/// discarded); a failed run is an error with its stderr.
pub fn measure_child(command: &mut Command) -> Result<(Duration, Duration)> {
    let program = command.get_program().to_string_lossy().into_owned();
    let (c0, t0) = (cpu_time(true), Instant::now());
    let out = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    let (cpu, wall) = (cpu_time(true) - c0, t0.elapsed());
    if !out.status.success() {
        bail!(
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok((cpu, wall))
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// CPU time of thread `tid` of this process (what
/// `getrusage(RUSAGE_THREAD)` reports for it), read through its CPU-time
/// clock: the kernel's MAKE_THREAD_CPUCLOCK(tid, SCHED), as glibc's
/// pthread_getcpuclockid builds it. `None` once the thread is gone.
#[cfg(target_os = "linux")]
pub fn thread_cpu_time(tid: i32) -> Option<Duration> {
    use nix::time::{clock_gettime, ClockId};
    let clock = ClockId::from_raw(((!tid) << 3) | 6);
    let t = clock_gettime(clock).ok()?;
    Some(Duration::new(
        t.tv_sec().max(0) as u64,
        t.tv_nsec().max(0) as u32,
    ))
}

#[cfg(not(target_os = "linux"))]
pub fn thread_cpu_time(_tid: i32) -> Option<Duration> {
    None
}

/// CPU time of threads `tids` of this process together; an error naming
/// the first one that cannot be read (it ended, or is no thread of
/// ours): a sum without it would be a reading too low to trust.
pub fn threads_cpu_time(tids: &[i32]) -> Result<Duration> {
    tids.iter()
        .map(|&tid| {
            thread_cpu_time(tid).with_context(|| format!("thread {tid} cannot be read (it ended)"))
        })
        .sum()
}

/// The threads `find` lists once there are `want` of them: a thread names
/// itself once it runs, so a client just started may not show all of its
/// own yet. Waits up to 5 s; then what `find` lists last.
pub fn wait_for_threads(want: usize, find: impl Fn() -> Vec<i32>) -> Vec<i32> {
    let mut tids = find();
    for _ in 0..500 {
        if tids.len() == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        tids = find();
    }
    tids
}

/// Ids of this process's threads whose name starts with `prefix` (Linux
/// `/proc`; none elsewhere).
pub fn threads_named(prefix: &str) -> Vec<i32> {
    tasks("self")
        .filter(|task| task.name.starts_with(prefix))
        .filter_map(|task| i32::try_from(task.tid).ok())
        .collect()
}

/// One live thread of a process, from `/proc/PROCESS/task/`.
struct Task {
    tid: u32,
    /// `comm`, without its newline.
    name: String,
    dir: std::path::PathBuf,
}

/// The live threads of `/proc/<process>` (`self` or a pid); none off
/// Linux.
fn tasks(process: &str) -> impl Iterator<Item = Task> {
    let dir = std::fs::read_dir(format!("/proc/{process}/task"));
    dir.into_iter().flatten().flatten().filter_map(|entry| {
        let tid = entry.file_name().to_str()?.parse().ok()?;
        let name = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        Some(Task {
            tid,
            name: name.trim_end().to_owned(),
            dir: entry.path(),
        })
    })
}

/// On-CPU time of every live thread of process `pid`, with its name:
/// the first field of `/proc/PID/task/TID/schedstat` (nanoseconds, user
/// and system, exact; a thread CPU clock cannot be read across
/// processes). Threads that have exited are not listed. Empty off Linux.
pub fn process_thread_times(pid: u32) -> Vec<ThreadTime> {
    tasks(&pid.to_string())
        .filter_map(|task| {
            let schedstat = std::fs::read_to_string(task.dir.join("schedstat")).ok()?;
            let ns = schedstat.split_whitespace().next()?.parse().ok()?;
            Some(ThreadTime {
                tid: task.tid,
                name: task.name,
                cpu: Duration::from_nanos(ns),
            })
        })
        .collect()
}

/// One thread's CPU time so far.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadTime {
    pub tid: u32,
    /// Its name (`comm`: the first 15 bytes of what the thread was named).
    pub name: String,
    pub cpu: Duration,
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`; empty where
/// there is none): a shared machine's figures come with them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_advance_with_work() {
        let (cpu, wall, sum) =
            measure(|| Ok((0..20_000_000u64).map(std::hint::black_box).sum::<u64>())).unwrap();
        assert!(sum > 0);
        assert!(wall > Duration::ZERO);
        if cfg!(unix) {
            assert!(cpu > Duration::ZERO, "getrusage saw no CPU time");
        }
        if cfg!(target_os = "linux") {
            // "/proc/thread-self" links to "<pid>/task/<tid>".
            let link = std::fs::read_link("/proc/thread-self").unwrap();
            let tid: i32 = link.file_name().unwrap().to_str().unwrap().parse().unwrap();
            assert!(threads_named("").contains(&tid));
            assert!(thread_cpu_time(tid).is_some_and(|t| t > Duration::ZERO));
            let ours = process_thread_times(std::process::id());
            assert!(ours
                .iter()
                .any(|t| t.tid == tid as u32 && t.cpu > Duration::ZERO));
        }
    }
}
