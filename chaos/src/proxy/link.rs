//! One proxied connection: two pumps (upstream, downstream) that pass bytes
//! through the toxics currently on the proxy.
//!
//! Each direction has a reader task that stamps chunks with their arrival time
//! and a writer that applies the toxics, so latency delays each chunk from when
//! it arrived rather than piling up. The link ends when both directions have
//! seen EOF, or at once when a toxic, an error or the proxy's cut ends it.

use std::{
    collections::HashMap,
    io,
    net::Shutdown,
    sync::Arc,
    time::{Duration, Instant},
};

use rand::Rng;
use tokio::{
    net::TcpStream,
    sync::{mpsc, watch},
    time::sleep_until,
};

use super::toxic::{Stream, Toxic, ToxicKind};

/// How a link ends before its EOFs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Close,
    Reset,
}

/// Read size per chunk.
const CHUNK: usize = 32 * 1024;
/// Chunks buffered between a reader and its writer.
const QUEUE: usize = 32;

#[derive(Debug)]
struct Chunk {
    at: Instant,
    data: Vec<u8>,
}

/// Runs a link until it ends. `cut` fires when the proxy is disabled or removed.
pub(crate) async fn run(
    client: TcpStream,
    upstream: TcpStream,
    toxics: watch::Receiver<Arc<[Toxic]>>,
    mut cut: watch::Receiver<bool>,
) {
    let client = Arc::new(client);
    let upstream = Arc::new(upstream);
    let (end_tx, end_rx) = watch::channel(None::<End>);
    let end_tx = Arc::new(end_tx);
    let up = tokio::spawn(pump(
        client.clone(),
        upstream.clone(),
        Stream::Upstream,
        toxics.clone(),
        end_tx.clone(),
        end_rx.clone(),
    ));
    let down = tokio::spawn(pump(
        upstream.clone(),
        client.clone(),
        Stream::Downstream,
        toxics,
        end_tx.clone(),
        end_rx.clone(),
    ));
    let mut end_rx2 = end_rx.clone();
    let both = async {
        let _ = up.await;
        let _ = down.await;
    };
    tokio::select! {
        () = both => {}
        () = super::cut_fired(&mut cut) => { end_tx.send_replace(Some(End::Close)); }
        _ = ended(&mut end_rx2) => {}
    }
    if *end_rx.borrow() == Some(End::Reset) {
        // SO_LINGER 0: the close below sends RST instead of FIN
        let _ = client.set_zero_linger();
        let _ = upstream.set_zero_linger();
    }
    // the pumps see the end signal and drop their handles; the last drop closes
}

/// Per-link state of one toxic: when this link first saw it and whether it
/// applies here (the toxicity roll).
#[derive(Debug)]
struct Seen {
    since: Instant,
    applies: bool,
    passed: u64,
}

/// The toxics of one direction as this link applies them.
#[derive(Debug, Default)]
struct Active {
    latency: Option<(u64, u64)>,
    rate: Option<u64>,
    slow_close: u64,
    timeout: Option<(u64, Instant)>,
    reset: Option<u64>,
    slicer: Option<(u64, u64, u64)>,
    /// (toxic name, bytes still allowed)
    limit: Option<(String, u64)>,
}

fn active(list: &[Toxic], stream: Stream, seen: &mut HashMap<String, Seen>) -> Active {
    let mut a = Active::default();
    let now = Instant::now();
    seen.retain(|name, _| list.iter().any(|t| &t.name == name));
    for t in list.iter().filter(|t| t.stream == stream) {
        let s = seen.entry(t.name.clone()).or_insert_with(|| Seen {
            since: now,
            applies: rand::rng().random::<f32>() < t.toxicity,
            passed: 0,
        });
        if !s.applies {
            continue;
        }
        match t.kind {
            ToxicKind::Latency { latency, jitter } => {
                let (l, j) = a.latency.unwrap_or((0, 0));
                a.latency = Some((l + latency, j + jitter));
            }
            ToxicKind::Bandwidth { rate } => {
                a.rate = Some(a.rate.map_or(rate, |r| r.min(rate)));
            }
            ToxicKind::SlowClose { delay } => a.slow_close += delay,
            ToxicKind::Timeout { timeout } => {
                if a.timeout.is_none() {
                    a.timeout = Some((timeout, s.since));
                }
            }
            ToxicKind::ResetPeer { timeout } => {
                a.reset.get_or_insert(timeout);
            }
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => {
                a.slicer
                    .get_or_insert((average_size, size_variation, delay));
            }
            ToxicKind::LimitData { bytes } => {
                let left = bytes.saturating_sub(s.passed);
                if a.limit.as_ref().is_none_or(|(_, l)| left < *l) {
                    a.limit = Some((t.name.clone(), left));
                }
            }
        }
    }
    a
}

async fn read_some(s: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

async fn write_all(s: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        s.writable().await?;
        match s.try_write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads `from` into a queue until EOF, an error, or the link's end.
async fn reader(
    from: Arc<TcpStream>,
    tx: mpsc::Sender<Chunk>,
    mut end: watch::Receiver<Option<End>>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = tokio::select! {
            r = read_some(&from, &mut buf) => r,
            _ = ended(&mut end) => return,
        };
        match n {
            Ok(0) | Err(_) => return, // the dropped sender tells the writer
            Ok(n) => {
                let chunk = Chunk {
                    at: Instant::now(),
                    data: buf[..n].to_vec(),
                };
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn pump(
    from: Arc<TcpStream>,
    to: Arc<TcpStream>,
    stream: Stream,
    mut toxics: watch::Receiver<Arc<[Toxic]>>,
    end_tx: Arc<watch::Sender<Option<End>>>,
    mut end: watch::Receiver<Option<End>>,
) {
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let read = tokio::spawn(reader(from, tx, end.clone()));
    let mut seen = HashMap::new();
    let stop = |e: End| {
        end_tx.send_if_modified(|cur| {
            if cur.is_none() {
                *cur = Some(e);
                true
            } else {
                false
            }
        });
    };
    let mut pacer = Instant::now();
    let result: Result<(), End> = async {
        loop {
            let list = toxics.borrow_and_update().clone();
            let a = active(&list, stream, &mut seen);
            if let Some((timeout, since)) = a.timeout {
                // no data passes; the link closes at the deadline (never for 0)
                let deadline = (timeout > 0).then(|| since + Duration::from_millis(timeout));
                tokio::select! {
                    item = rx.recv() => if item.is_none() { return Err(End::Close) },
                    () = sleep_or_never(deadline) => return Err(End::Close),
                    r = toxics.changed() => if r.is_err() { return Err(End::Close) },
                    _ = ended(&mut end) => return Ok(()),
                }
                continue;
            }
            let item = tokio::select! {
                item = rx.recv() => item,
                r = toxics.changed() => { if r.is_err() { return Err(End::Close) } continue }
                _ = ended(&mut end) => return Ok(()),
            };
            let Some(chunk) = item else {
                if end.borrow().is_some() {
                    // the reader stopped because the link ended: no FIN, the end decides
                    return Ok(());
                }
                wait(&mut end, Duration::from_millis(a.slow_close)).await?;
                let _ = socket2::SockRef::from(&*to).shutdown(Shutdown::Write);
                return Ok(());
            };
            if let Some(timeout) = a.reset {
                wait(&mut end, Duration::from_millis(timeout)).await?;
                return Err(End::Reset);
            }
            if let Some((latency, jitter)) = a.latency {
                let j = if jitter > 0 {
                    rand::rng().random_range(0..=2 * jitter) as i64 - jitter as i64
                } else {
                    0
                };
                let delay = Duration::from_millis((latency as i64 + j).max(0) as u64);
                wait_until(&mut end, chunk.at + delay).await?;
            }
            let mut data = chunk.data.as_slice();
            let mut limit_hit = false;
            if let Some((name, left)) = &a.limit {
                let allowed = (*left).min(data.len() as u64) as usize;
                limit_hit = allowed as u64 >= *left;
                data = &data[..allowed];
                if let Some(s) = seen.get_mut(name) {
                    s.passed += allowed as u64;
                }
            }
            for piece in slices(data, a.slicer) {
                let step = a
                    .rate
                    .map_or(piece.len(), |r| (r as usize).saturating_mul(100).max(1));
                for part in piece.chunks(step.max(1)) {
                    write_all(&to, part).await.map_err(|_| End::Close)?;
                    if let Some(rate) = a.rate {
                        pacer = pacer.max(Instant::now())
                            + Duration::from_secs_f64(part.len() as f64 / (rate as f64 * 1000.0));
                        wait_until(&mut end, pacer).await?;
                    }
                }
                if let Some((_, _, delay)) = a.slicer {
                    wait(&mut end, Duration::from_micros(delay)).await?;
                }
            }
            if limit_hit {
                return Err(End::Close);
            }
        }
    }
    .await;
    if let Err(e) = result {
        stop(e);
    }
    read.abort();
}

/// Cuts `data` into the slicer's pieces (or one piece without a slicer).
fn slices(data: &[u8], slicer: Option<(u64, u64, u64)>) -> Vec<&[u8]> {
    let Some((avg, var, _)) = slicer else {
        return vec![data];
    };
    let mut out = Vec::new();
    let mut rest = data;
    let mut rng = rand::rng();
    while !rest.is_empty() {
        let size = if var > 0 {
            avg - var + rng.random_range(0..=2 * var)
        } else {
            avg
        };
        let n = (size.max(1) as usize).min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Resolves with how the link ended (`None`: its signal is gone).
async fn ended(end: &mut watch::Receiver<Option<End>>) -> Option<End> {
    end.wait_for(Option::is_some).await.ok().and_then(|e| *e)
}

async fn sleep_or_never(deadline: Option<Instant>) {
    match deadline {
        Some(d) => sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

async fn wait(end: &mut watch::Receiver<Option<End>>, d: Duration) -> Result<(), End> {
    if d.is_zero() {
        return Ok(());
    }
    wait_until(end, Instant::now() + d).await
}

/// Sleeps until `t` unless the link ends first (then `Err`, with nothing more to do).
async fn wait_until(end: &mut watch::Receiver<Option<End>>, t: Instant) -> Result<(), End> {
    if t <= Instant::now() {
        return Ok(());
    }
    tokio::select! {
        () = sleep_until(t.into()) => Ok(()),
        e = ended(end) => Err(e.unwrap_or(End::Close)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slicer_keeps_every_byte_in_order_and_within_its_sizes() {
        let data: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        let pieces = slices(&data, Some((100, 20, 0)));
        assert_eq!(pieces.concat(), data);
        let (last, body) = pieces.split_last().expect("pieces");
        assert!(body.iter().all(|p| (80..=120).contains(&p.len())));
        assert!(!last.is_empty());
    }
}
