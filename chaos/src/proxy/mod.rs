//! A TCP fault proxy: listens, forwards to an upstream, and passes the bytes
//! through toxics ([`toxic`]) that can be added and removed while links are open.
//!
//! Disabling a proxy cuts the link: the listener closes (new connections are
//! refused) and every open connection is closed. [`api`] puts Toxiproxy's HTTP
//! API in front of a [`Registry`] of proxies.

pub mod api;
mod link;
pub mod toxic;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use serde::Serialize;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

pub use toxic::{Stream, Toxic, ToxicError, ToxicKind};

/// What can go wrong with a proxy; [`ProxyError::status`] is the HTTP status Toxiproxy uses.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("proxy not found")]
    ProxyNotFound,
    #[error("proxy already exists")]
    ProxyExists,
    #[error("toxic not found")]
    ToxicNotFound,
    #[error("toxic already exists")]
    ToxicExists,
    #[error(transparent)]
    Toxic(#[from] ToxicError),
    #[error("missing required field: {0}")]
    MissingField(&'static str),
    #[error("listen address {0:?} is not a loopback address (start with --allow-non-loopback)")]
    NotLoopback(String),
    #[error("listen address {addr:?}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

impl ProxyError {
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::ProxyNotFound | ProxyError::ToxicNotFound => 404,
            ProxyError::ProxyExists | ProxyError::ToxicExists => 409,
            ProxyError::Bind { .. } => 500,
            _ => 400,
        }
    }
}

/// A proxy as Toxiproxy's API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyView {
    pub name: String,
    /// The bound address while enabled (a `:0` port is replaced by the real one).
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    pub toxics: Vec<Toxic>,
}

/// One proxy; cheap to clone (all clones are the same proxy).
#[derive(Debug, Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    allow_non_loopback: bool,
    state: tokio::sync::Mutex<State>,
    toxics: watch::Sender<Arc<[Toxic]>>,
    /// Kept in step with `state` for cheap synchronous reads.
    view: Mutex<(String, String, bool)>,
}

#[derive(Debug)]
struct State {
    listen: String,
    upstream: String,
    /// Set while enabled; sending `true` (or dropping it) cuts every link.
    cut: Option<watch::Sender<bool>>,
    /// The upstream every new link dials; changed by `set_upstream`.
    upstream_tx: Option<watch::Sender<String>>,
}

/// How long a new link waits for the upstream before giving up on the client.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Proxy {
    /// Starts an enabled proxy named `proxy` on a loopback `listen` address
    /// (port 0 picks one; see [`Proxy::listen_addr`]).
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> Result<Proxy, ProxyError> {
        Proxy::create(
            "proxy",
            &listen.to_string(),
            &upstream.to_string(),
            true,
            false,
        )
        .await
    }

    /// Creates a proxy; `allow_non_loopback` permits listening beyond this machine.
    pub async fn create(
        name: &str,
        listen: &str,
        upstream: &str,
        enabled: bool,
        allow_non_loopback: bool,
    ) -> Result<Proxy, ProxyError> {
        if name.trim().is_empty() {
            return Err(ProxyError::MissingField("name"));
        }
        if upstream.trim().is_empty() {
            return Err(ProxyError::MissingField("upstream"));
        }
        let listen = if listen.is_empty() {
            "127.0.0.1:0"
        } else {
            listen
        };
        let proxy = Proxy {
            inner: Arc::new(Inner {
                name: name.to_string(),
                allow_non_loopback,
                state: tokio::sync::Mutex::new(State {
                    listen: listen.to_string(),
                    upstream: upstream.to_string(),
                    cut: None,
                    upstream_tx: None,
                }),
                toxics: watch::channel(Arc::from(Vec::new())).0,
                view: Mutex::new((listen.to_string(), upstream.to_string(), false)),
            }),
        };
        if enabled {
            proxy.enable().await?;
        }
        Ok(proxy)
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    fn view_lock(&self) -> MutexGuard<'_, (String, String, bool)> {
        self.inner.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The address clients connect to (bound while enabled).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.view_lock().0.parse().ok()
    }

    pub fn is_enabled(&self) -> bool {
        self.view_lock().2
    }

    /// Starts listening (again); returns the bound address.
    pub async fn enable(&self) -> Result<SocketAddr, ProxyError> {
        let mut st = self.inner.state.lock().await;
        if st.cut.is_some()
            && let Ok(addr) = st.listen.parse()
        {
            return Ok(addr);
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(st.listen.as_str())
            .await
            .map_err(|source| ProxyError::Bind {
                addr: st.listen.clone(),
                source,
            })?
            .collect();
        if !self.inner.allow_non_loopback && addrs.iter().any(|a| !a.ip().is_loopback()) {
            return Err(ProxyError::NotLoopback(st.listen.clone()));
        }
        let listener = TcpListener::bind(addrs.as_slice())
            .await
            .map_err(|source| ProxyError::Bind {
                addr: st.listen.clone(),
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: st.listen.clone(),
            source,
        })?;
        st.listen = bound.to_string();
        let (cut_tx, cut_rx) = watch::channel(false);
        let (up_tx, up_rx) = watch::channel(st.upstream.clone());
        st.cut = Some(cut_tx);
        st.upstream_tx = Some(up_tx);
        *self.view_lock() = (st.listen.clone(), st.upstream.clone(), true);
        tokio::spawn(accept_loop(
            listener,
            up_rx,
            self.inner.toxics.subscribe(),
            cut_rx,
            self.inner.name.clone(),
        ));
        Ok(bound)
    }

    /// Cuts the link: stops listening and closes every open connection.
    pub async fn disable(&self) {
        let mut st = self.inner.state.lock().await;
        if let Some(cut) = st.cut.take() {
            cut.send_replace(true);
        }
        st.upstream_tx = None;
        self.view_lock().2 = false;
    }

    /// Points new links at another upstream (open links keep theirs).
    pub async fn set_upstream(&self, upstream: &str) -> Result<(), ProxyError> {
        if upstream.trim().is_empty() {
            return Err(ProxyError::MissingField("upstream"));
        }
        let mut st = self.inner.state.lock().await;
        st.upstream = upstream.to_string();
        if let Some(tx) = &st.upstream_tx {
            tx.send_replace(upstream.to_string());
        }
        self.view_lock().1 = upstream.to_string();
        Ok(())
    }

    /// Moves the listener (restarting it when enabled).
    pub async fn set_listen(&self, listen: &str) -> Result<(), ProxyError> {
        let was_enabled = self.is_enabled();
        let old = {
            let mut st = self.inner.state.lock().await;
            if st.listen == listen {
                return Ok(());
            }
            std::mem::replace(&mut st.listen, listen.to_string())
        };
        self.view_lock().0 = listen.to_string();
        if was_enabled {
            self.disable().await;
            if let Err(e) = self.enable().await {
                // put the old listener back so a bad address does not leave the proxy down
                self.inner.state.lock().await.listen = old.clone();
                self.view_lock().0 = old;
                let _ = self.enable().await;
                return Err(e);
            }
        }
        Ok(())
    }

    pub fn toxics(&self) -> Vec<Toxic> {
        self.inner.toxics.borrow().to_vec()
    }

    pub fn toxic(&self, name: &str) -> Option<Toxic> {
        self.inner
            .toxics
            .borrow()
            .iter()
            .find(|t| t.name == name)
            .cloned()
    }

    /// Adds a toxic; it acts on open links too.
    pub fn add_toxic(&self, toxic: Toxic) -> Result<Toxic, ProxyError> {
        toxic.validate()?;
        let mut result = Ok(());
        self.inner.toxics.send_if_modified(|list| {
            if list.iter().any(|t| t.name == toxic.name) {
                result = Err(ProxyError::ToxicExists);
                return false;
            }
            let mut v = list.to_vec();
            v.push(toxic.clone());
            *list = Arc::from(v);
            true
        });
        result.map(|()| toxic)
    }

    /// Replaces the toxic of the same name.
    pub fn update_toxic(&self, toxic: Toxic) -> Result<Toxic, ProxyError> {
        toxic.validate()?;
        let mut found = false;
        self.inner.toxics.send_if_modified(|list| {
            let mut v = list.to_vec();
            if let Some(slot) = v.iter_mut().find(|t| t.name == toxic.name) {
                *slot = toxic.clone();
                found = true;
                *list = Arc::from(v);
            }
            found
        });
        if found {
            Ok(toxic)
        } else {
            Err(ProxyError::ToxicNotFound)
        }
    }

    pub fn remove_toxic(&self, name: &str) -> Result<(), ProxyError> {
        let mut found = false;
        self.inner.toxics.send_if_modified(|list| {
            let v: Vec<Toxic> = list.iter().filter(|t| t.name != name).cloned().collect();
            found = v.len() != list.len();
            if found {
                *list = Arc::from(v);
            }
            found
        });
        if found {
            Ok(())
        } else {
            Err(ProxyError::ToxicNotFound)
        }
    }

    pub fn clear_toxics(&self) {
        self.inner.toxics.send_replace(Arc::from(Vec::new()));
    }

    pub fn view(&self) -> ProxyView {
        let (listen, upstream, enabled) = self.view_lock().clone();
        ProxyView {
            name: self.inner.name.clone(),
            listen,
            upstream,
            enabled,
            toxics: self.toxics(),
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: watch::Receiver<String>,
    toxics: watch::Receiver<Arc<[Toxic]>>,
    mut cut: watch::Receiver<bool>,
    name: String,
) {
    loop {
        let (client, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning
                    tracing::warn!(proxy = %name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = cut_fired(&mut cut) => return,
        };
        let target = upstream.borrow().clone();
        let (toxics, cut) = (toxics.clone(), cut.clone());
        let name = name.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target.as_str())).await {
                Ok(Ok(up)) => {
                    let _ = up.set_nodelay(true);
                    let _ = client.set_nodelay(true);
                    link::run(client, up, toxics, cut).await;
                }
                Ok(Err(e)) => {
                    tracing::warn!(proxy = %name, %peer, upstream = %target, error = %e, "upstream refused");
                }
                Err(_) => {
                    tracing::warn!(proxy = %name, %peer, upstream = %target, "upstream timed out")
                }
            }
        });
    }
}

/// Resolves when the proxy's cut fires (or the proxy is gone).
async fn cut_fired(cut: &mut watch::Receiver<bool>) {
    let _ = cut.wait_for(|c| *c).await;
}

/// The proxies behind one API, by name.
#[derive(Debug, Default)]
pub struct Registry {
    proxies: Mutex<BTreeMap<String, Proxy>>,
    /// Lets proxies listen on non-loopback addresses.
    pub allow_non_loopback: bool,
}

impl Registry {
    pub fn new(allow_non_loopback: bool) -> Arc<Registry> {
        Arc::new(Registry {
            proxies: Mutex::new(BTreeMap::new()),
            allow_non_loopback,
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Proxy>> {
        self.proxies.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, name: &str) -> Result<Proxy, ProxyError> {
        self.lock()
            .get(name)
            .cloned()
            .ok_or(ProxyError::ProxyNotFound)
    }

    pub fn all(&self) -> Vec<Proxy> {
        self.lock().values().cloned().collect()
    }

    /// Creates and registers a proxy.
    pub async fn create(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
        enabled: bool,
    ) -> Result<Proxy, ProxyError> {
        if self.lock().contains_key(name) {
            return Err(ProxyError::ProxyExists);
        }
        let proxy = Proxy::create(name, listen, upstream, enabled, self.allow_non_loopback).await?;
        if self.insert(proxy.clone()).is_err() {
            // created twice at once: the first one stays
            proxy.disable().await;
            return Err(ProxyError::ProxyExists);
        }
        Ok(proxy)
    }

    /// Registers an existing proxy (started through the library).
    pub fn insert(&self, proxy: Proxy) -> Result<(), ProxyError> {
        let mut map = self.lock();
        if map.contains_key(proxy.name()) {
            return Err(ProxyError::ProxyExists);
        }
        map.insert(proxy.name().to_string(), proxy);
        Ok(())
    }

    pub async fn remove(&self, name: &str) -> Result<(), ProxyError> {
        let proxy = self.lock().remove(name).ok_or(ProxyError::ProxyNotFound)?;
        proxy.disable().await;
        proxy.clear_toxics();
        Ok(())
    }

    /// Toxiproxy's reset: every proxy enabled, every toxic removed.
    pub async fn reset(&self) -> Result<(), ProxyError> {
        for proxy in self.all() {
            proxy.clear_toxics();
            proxy.enable().await?;
        }
        Ok(())
    }
}
