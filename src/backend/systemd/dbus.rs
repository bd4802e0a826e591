//! systemd over D-Bus (`org.freedesktop.systemd1`), never by scraping `systemctl`.
//!
//! Calls are made concurrently so that status for hundreds of units costs a handful of round
//! trips' worth of latency.

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use futures_util::StreamExt as _;
use zbus::zvariant::{OwnedObjectPath, OwnedValue};

use super::private_socket;
use crate::target::Scope;

/// One row of `ListUnits*`: name, description, load state, active state, sub state, followed
/// unit, object path, queued job id, job type, job path.
type UnitRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    OwnedObjectPath,
    u32,
    String,
    OwnedObjectPath,
);

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1",
    gen_blocking = false
)]
trait Manager {
    fn reload(&self) -> zbus::Result<()>;
    fn subscribe(&self) -> zbus::Result<()>;
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;
    fn kill_unit(&self, name: &str, whom: &str, signal: i32) -> zbus::Result<()>;
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    #[allow(clippy::type_complexity)]
    fn enable_unit_files(
        &self,
        files: &[&str],
        runtime: bool,
        force: bool,
    ) -> zbus::Result<(bool, Vec<(String, String, String)>)>;
    fn disable_unit_files(
        &self,
        files: &[&str],
        runtime: bool,
    ) -> zbus::Result<Vec<(String, String, String)>>;
    fn list_units_by_patterns(
        &self,
        states: &[&str],
        patterns: &[&str],
    ) -> zbus::Result<Vec<UnitRow>>;
    fn list_units_by_names(&self, names: &[&str]) -> zbus::Result<Vec<UnitRow>>;
    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}

#[zbus::proxy(
    interface = "org.freedesktop.login1.Manager",
    default_service = "org.freedesktop.login1",
    default_path = "/org/freedesktop/login1",
    gen_blocking = false
)]
trait Login {
    fn set_user_linger(&self, uid: u32, enable: bool, interactive: bool) -> zbus::Result<()>;
}

/// One loaded unit as `ListUnitsBy*` reports it.
#[derive(Clone, Debug)]
pub struct UnitListing {
    pub name: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub path: OwnedObjectPath,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    Start,
    Stop,
    Restart,
}

#[derive(Clone, Debug)]
pub struct JobOutcome {
    pub unit: String,
    pub kind: JobKind,
    /// `done`, `canceled`, `timeout`, `failed`, `dependency`, `skipped`, or why it was refused.
    pub result: String,
}

impl JobOutcome {
    pub fn done(&self) -> bool {
        self.result == "done"
    }

    /// The manager refused to queue the job for lack of privileges (polkit).
    pub fn not_permitted(&self) -> bool {
        self.result.starts_with(NOT_PERMITTED)
    }
}

/// The properties `status` and `show` read, from `org.freedesktop.systemd1.Unit` and `.Service`.
pub type Properties = HashMap<String, OwnedValue>;

/// A subscription to the manager's `PropertiesChanged` announcements.
pub struct ChangeWatch {
    stream: zbus::MessageStream,
}

/// Announcements kept between two readings; a crash loop of every app in a big ecosystem stays
/// well below it, and older ones are dropped first if not.
const CHANGES_QUEUED: usize = 4096;

pub struct Client {
    conn: zbus::Connection,
    pub scope: Scope,
    /// How the connection was made, for error messages.
    pub address: String,
    in_flight: usize,
    /// Where a burst of requests can be sent in one write (the private socket).
    cork: Option<private_socket::Cork>,
}

/// Calls in flight at once through the bus. dbus-daemon refuses more than 128 pending replies
/// per connection (`max_replies_per_connection`); staying well below keeps hundreds of units fast.
const BUS_IN_FLIGHT: usize = 64;
/// On the private socket nothing sits in between: the manager reads requests as they come and
/// queues far more than this, so status of hundreds of units is one burst of requests.
const PRIVATE_IN_FLIGHT: usize = 4096;

/// Runs futures concurrently, at most `in_flight` at a time, keeping their order.
async fn bounded<T>(
    in_flight: usize,
    futures: impl IntoIterator<Item = impl std::future::Future<Output = T>>,
) -> Vec<T> {
    futures_util::stream::iter(futures)
        .buffered(in_flight)
        .collect()
        .await
}

/// How long a start/stop/restart job may take before rgen stops waiting (the manager's own
/// timeouts still apply and are usually shorter).
const JOB_TIMEOUT: Duration = Duration::from_secs(120);

/// How much a connection will carry, which decides the way to the manager: a new connection to
/// its private socket costs the manager more to set up than one through the bus (whose own
/// connection it set up long ago), and saves dbus-daemon's relaying of every message after.
/// Measured (bench/run status and A/B runs): for 3 units the bus is 0.3–0.5 ms quicker (a new
/// private connection costs the manager about 2.4 ms of CPU), for 200 the private socket some
/// 10 ms, so the private socket pays from about eight units on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Traffic {
    Few,
    Many,
}

/// Services from which [`Traffic::Many`].
const MANY_FROM: usize = 8;

/// How long the bus may take to accept a connection when the private socket could be used.
const BUS_SETUP_WAIT: Duration = Duration::from_secs(2);

impl Traffic {
    /// From the service files in the scope's unit directory (a directory listing, no reads).
    pub fn expected(dir: &std::path::Path) -> Traffic {
        let services = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().as_encoded_bytes().ends_with(b".service"))
                    .take(MANY_FROM)
                    .count()
            })
            .unwrap_or(0);
        if services >= MANY_FROM {
            Traffic::Many
        } else {
            Traffic::Few
        }
    }
}

impl Client {
    pub fn connect(scope: Scope, traffic: Traffic) -> Result<Self> {
        zbus::block_on(Self::connect_async(scope, traffic))
    }

    /// [`Self::connect`], doing `work` on this thread while the manager or the bus answers the
    /// handshake: short work overlaps the waits with no thread to start (which costs about as
    /// much as reading a few files).
    pub fn connect_while<R>(
        scope: Scope,
        traffic: Traffic,
        work: impl FnOnce() -> R,
    ) -> (Result<Self>, R) {
        // `join` polls the connection first: its first message is out before `work` starts.
        zbus::block_on(futures_util::future::join(
            Self::connect_async(scope, traffic),
            async { work() },
        ))
    }

    /// Runs one request to completion on this thread, driving the connection's reader alongside.
    fn block_on<T>(&self, request: impl Future<Output = T>) -> T {
        zbus::block_on(drive(&self.conn, request))
    }

    async fn connect_async(scope: Scope, traffic: Traffic) -> Result<Self> {
        let via = Via::from_env()?;
        // The manager's private socket, as `systemctl` uses it: no dbus-daemon hop per call.
        // Only where it is the same manager the bus would reach, and only for those it serves
        // (root in the system scope); for a few units the bus first (see `Traffic`). Whichever
        // fails, the other is tried, silently.
        let private = private_socket(scope);
        if via == Via::Private && private.is_none() {
            bail!(
                "RGEN_DBUS_VIA=private: the systemd {scope} manager's private socket is not for this user or this bus address; unset RGEN_DBUS_VIA to use the bus"
            );
        }
        let private_first = via == Via::Private || (via == Via::Auto && traffic == Traffic::Many);
        let may_use_private = via != Via::Bus;
        if private_first && let Some(path) = &private {
            match Self::connect_private(scope, path).await {
                Ok(client) => return Ok(client),
                Err(e) if via == Via::Private => bail!(
                    "cannot reach the systemd {scope} manager through its private socket {} ({e}); unset RGEN_DBUS_VIA to use the bus",
                    path.display()
                ),
                Err(_) => {}
            }
        }
        let (opening, address) = match scope {
            Scope::System => (open_bus(zbus::Address::system()), "the system bus"),
            Scope::User => (open_bus(zbus::Address::session()), "the session bus"),
        };
        let address = address.to_string();
        let can_fall_back = !private_first && may_use_private && private.is_some();
        // A dbus-daemon that takes the connection and never answers must not hang rgen where
        // the manager's own socket would do.
        let conn = if can_fall_back {
            let timer = async_io::Timer::after(BUS_SETUP_WAIT);
            match futures_util::future::select(pin!(opening), pin!(timer)).await {
                futures_util::future::Either::Left((conn, _)) => conn,
                futures_util::future::Either::Right(_) => Err(zbus::Error::InputOutput(
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer").into(),
                )),
            }
        } else {
            opening.await
        };
        let e = match conn {
            Ok(conn) => {
                return Ok(Client {
                    conn,
                    scope,
                    address,
                    in_flight: BUS_IN_FLIGHT,
                    cork: None,
                });
            }
            Err(e) => e,
        };
        if can_fall_back
            && let Some(path) = &private
            && let Ok(client) = Self::connect_private(scope, path).await
        {
            return Ok(client);
        }
        let hint = match scope {
            Scope::System => {
                "is systemd running as PID 1, with dbus? As a non-root user, changes need polkit rights: try sudo"
            }
            Scope::User => {
                "is your user manager running with a session bus (package dbus-user-session)? Over ssh or sudo, XDG_RUNTIME_DIR may be unset: log in directly, or set XDG_RUNTIME_DIR=/run/user/$(id -u)"
            }
        };
        bail!("cannot reach the systemd {scope} manager through {address} ({e}); {hint}")
    }

    async fn connect_private(scope: Scope, path: &std::path::Path) -> zbus::Result<Client> {
        let (conn, cork) = private_socket::connect(path).await?;
        Ok(Client {
            conn,
            scope,
            address: format!("the manager's private socket {}", path.display()),
            in_flight: PRIVATE_IN_FLIGHT,
            cork: Some(cork),
        })
    }

    /// Connects to a manager at an explicit D-Bus address (a user manager's bus from outside
    /// its session, in tests).
    pub fn connect_to(address: &str, scope: Scope) -> Result<Self> {
        zbus::block_on(async {
            let conn = open_bus(zbus::Address::try_from(address)).await?;
            Ok(Client {
                conn,
                scope,
                address: address.to_string(),
                in_flight: BUS_IN_FLIGHT,
                cork: None,
            })
        })
    }

    /// Runs a burst of concurrent requests, sent in one write where the connection can (each
    /// write wakes the manager).
    async fn burst<T>(&self, requests: impl Future<Output = T>) -> T {
        match &self.cork {
            Some(cork) => cork.in_one_write(requests).await,
            None => requests.await,
        }
    }

    async fn manager(&self) -> Result<ManagerProxy<'static>> {
        Ok(ManagerProxy::builder(&self.conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?)
    }

    /// The manager's version number (`252` from "252.38-1~deb12u1").
    pub fn version(&self) -> Result<u32> {
        self.block_on(async {
            let v = self.manager().await?.version().await?;
            v.split(|c: char| !c.is_ascii_digit())
                .find(|s| !s.is_empty())
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| anyhow!("unexpected systemd version {v:?}"))
        })
    }

    pub fn reload(&self) -> Result<()> {
        self.block_on(async {
            self.manager()
                .await?
                .reload()
                .await
                .context("daemon-reload failed")
        })
    }

    pub fn enable(&self, units: &[String]) -> Result<Vec<(String, String, String)>> {
        if units.is_empty() {
            return Ok(Vec::new());
        }
        self.block_on(async {
            let names: Vec<&str> = units.iter().map(String::as_str).collect();
            let (_, changes) = self
                .manager()
                .await?
                .enable_unit_files(&names, false, false)
                .await
                .with_context(|| format!("cannot enable {}", units.join(", ")))?;
            Ok(changes)
        })
    }

    pub fn disable(&self, units: &[String]) -> Result<Vec<(String, String, String)>> {
        if units.is_empty() {
            return Ok(Vec::new());
        }
        self.block_on(async {
            let names: Vec<&str> = units.iter().map(String::as_str).collect();
            self.manager()
                .await?
                .disable_unit_files(&names, false)
                .await
                .with_context(|| format!("cannot disable {}", units.join(", ")))
        })
    }

    /// Forgets the failure (and the start-limit count) of those units that are `failed`; healthy
    /// units keep their restart counters.
    pub fn reset_failed(&self, units: &[String]) -> Result<()> {
        if units.is_empty() {
            return Ok(());
        }
        self.block_on(async {
            let m = self.manager().await?;
            let names: Vec<&str> = units.iter().map(String::as_str).collect();
            let failed: Vec<String> = m
                .list_units_by_names(&names)
                .await?
                .into_iter()
                .filter(|u| u.3 == "failed")
                .map(|u| u.0)
                .collect();
            bounded(
                self.in_flight,
                failed.iter().map(|u| m.reset_failed_unit(u)),
            )
            .await;
            Ok(())
        })
    }

    /// Forgets every unit's failure, start-limit count and restart counter (`NRestarts`),
    /// running or not (`rgen reset`).
    pub fn reset_counters(&self, units: &[String]) -> Result<Vec<(String, String)>> {
        self.block_on(async {
            let m = self.manager().await?;
            let results = self
                .burst(bounded(
                    self.in_flight,
                    units.iter().map(|u| {
                        let m = &m;
                        async move { (u.clone(), m.reset_failed_unit(u).await) }
                    }),
                ))
                .await;
            Ok(results
                .into_iter()
                .filter_map(|(u, r)| r.err().map(|e| (u, dbus_message(&e))))
                .collect())
        })
    }

    pub fn kill(&self, unit: &str, whom: &str, signal: i32) -> Result<()> {
        self.block_on(async { Ok(self.manager().await?.kill_unit(unit, whom, signal).await?) })
    }

    /// Queues every job at once and waits until each has finished (race-free: subscribed to
    /// `JobRemoved` before the jobs are queued).
    pub fn run_jobs(&self, jobs: &[(JobKind, String)]) -> Result<Vec<JobOutcome>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        self.block_on(async {
            let m = self.manager().await?;
            subscribe(&m).await?;
            // A match rule, not the proxy's signal stream: that one asks the bus who owns
            // systemd's name, which a peer connection (the private socket) has no bus to ask.
            let rule = zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .sender("org.freedesktop.systemd1")?
                .path("/org/freedesktop/systemd1")?
                .interface("org.freedesktop.systemd1.Manager")?
                .member("JobRemoved")?
                .build();
            let mut removed = pin!(
                zbus::MessageStream::for_match_rule(rule, &self.conn, None)
                    .await?
                    .filter_map(|m| std::future::ready(m.ok().and_then(JobRemoved::from_message)))
            );
            let queued = self
                .burst(bounded(
                    self.in_flight,
                    jobs.iter().map(|(kind, unit)| {
                        let m = &m;
                        async move {
                            let r = match kind {
                                JobKind::Start => m.start_unit(unit, "replace").await,
                                JobKind::Stop => m.stop_unit(unit, "replace").await,
                                JobKind::Restart => m.restart_unit(unit, "replace").await,
                            };
                            (*kind, unit.clone(), r)
                        }
                    }),
                ))
                .await;
            let mut waiting: HashMap<String, (JobKind, String)> = HashMap::new();
            let mut outcomes = Vec::new();
            for (kind, unit, r) in queued {
                match r {
                    Ok(path) => {
                        waiting.insert(path.to_string(), (kind, unit));
                    }
                    Err(e) => outcomes.push(JobOutcome {
                        unit,
                        kind,
                        result: if is_not_permitted(&e) {
                            format!("{NOT_PERMITTED}: {}", dbus_message(&e))
                        } else {
                            format!("refused: {}", dbus_message(&e))
                        },
                    }),
                }
            }
            let deadline = async_io::Timer::after(JOB_TIMEOUT);
            futures_util::pin_mut!(deadline);
            while !waiting.is_empty() {
                let next = removed.next();
                futures_util::pin_mut!(next);
                match futures_util::future::select(next, &mut deadline).await {
                    futures_util::future::Either::Left((Some(signal), _)) => {
                        let Ok(args) = signal.args() else { continue };
                        if let Some((kind, unit)) = waiting.remove(args.job().as_str()) {
                            outcomes.push(JobOutcome {
                                unit,
                                kind,
                                result: args.result().to_string(),
                            });
                        }
                    }
                    futures_util::future::Either::Left((None, _)) => {
                        bail!("the manager connection closed")
                    }
                    futures_util::future::Either::Right(_) => {
                        for (_, (kind, unit)) in waiting.drain() {
                            outcomes.push(JobOutcome {
                                unit,
                                kind,
                                result: "still running after 120 s".into(),
                            });
                        }
                    }
                }
            }
            Ok(outcomes)
        })
    }

    pub fn list_units(&self, patterns: &[String]) -> Result<Vec<UnitListing>> {
        self.block_on(async {
            let p: Vec<&str> = patterns.iter().map(String::as_str).collect();
            let units = self
                .manager()
                .await?
                .list_units_by_patterns(&[], &p)
                .await?;
            Ok(units.into_iter().map(listing).collect())
        })
    }

    /// Loads units by name (a stopped unit may have been unloaded) and lists them.
    pub fn units_by_name(&self, names: &[String]) -> Result<Vec<UnitListing>> {
        self.block_on(async {
            let n: Vec<&str> = names.iter().map(String::as_str).collect();
            let units = self.manager().await?.list_units_by_names(&n).await?;
            Ok(units.into_iter().map(listing).collect())
        })
    }

    /// One call of `org.freedesktop.DBus.Properties` on a systemd object, without a proxy (building
    /// one per object would cost more than the call).
    async fn call_properties<B>(
        &self,
        path: &str,
        method: &str,
        body: &B,
    ) -> zbus::Result<zbus::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(
                Some("org.freedesktop.systemd1"),
                path,
                Some("org.freedesktop.DBus.Properties"),
                method,
                body,
            )
            .await
    }

    /// `GetAll` of the given interfaces for every path, many requests in flight at once.
    pub fn properties(
        &self,
        paths: &[OwnedObjectPath],
        interfaces: &[&str],
    ) -> Result<Vec<Properties>> {
        self.block_on(async {
            let calls = paths
                .iter()
                .flat_map(|path| interfaces.iter().map(move |iface| (path, *iface)))
                .map(|(path, iface)| async move {
                    let reply = self
                        .call_properties(path.as_str(), "GetAll", &(iface,))
                        .await?;
                    reply.body().deserialize::<Properties>()
                });
            let replies = self.burst(bounded(self.in_flight, calls)).await;
            let mut out = Vec::with_capacity(paths.len());
            let mut replies = replies.into_iter();
            for _ in paths {
                let mut all = Properties::new();
                for _ in interfaces {
                    if let Some(r) = replies.next() {
                        all.extend(r?);
                    }
                }
                out.push(all);
            }
            Ok(out)
        })
    }

    /// Lists units by name together with selected `(interface, property)` pairs of each: one
    /// `ListUnitsByNames` and one small `Get` per pair, all in flight at once, so a handful of
    /// units costs a single round trip. A property the unit cannot give (not loaded, older
    /// systemd) is simply absent.
    pub fn units_with_properties(
        &self,
        names: &[String],
        wanted: &[(&str, &str)],
    ) -> Result<Vec<(UnitListing, Properties)>> {
        let each = vec![wanted; names.len()];
        self.units_with_properties_meanwhile(names, &each, || ()).0
    }

    /// [`Self::units_with_properties`] with pairs of its own for each unit (`wanted[i]` for
    /// `names[i]`), doing `meanwhile` once the requests are sent and while the manager answers
    /// them: work that does not need the answers costs no time of its own.
    pub fn units_with_properties_meanwhile<R>(
        &self,
        names: &[String],
        wanted: &[&[(&str, &str)]],
        meanwhile: impl FnOnce() -> R,
    ) -> (Result<Vec<(UnitListing, Properties)>>, R) {
        let asked = async {
            let manager = self.manager().await?;
            let n: Vec<&str> = names.iter().map(String::as_str).collect();
            let listed = manager.list_units_by_names(&n);
            let (listed, props) = self
                .burst(futures_util::future::join(listed, self.gets(names, wanted)))
                .await;
            let mut by_name: HashMap<&str, Properties> =
                names.iter().map(String::as_str).zip(props).collect();
            // The listing skips names systemd finds invalid, so pair by name, not by position.
            Ok(listed?
                .into_iter()
                .map(|unit| {
                    let props = by_name.remove(unit.0.as_str()).unwrap_or_default();
                    (listing(unit), props)
                })
                .collect())
        };
        // `join` polls `asked` first: its requests are out before `meanwhile` starts.
        self.block_on(futures_util::future::join(asked, async { meanwhile() }))
    }

    /// Selected `(interface, property)` pairs of each named unit (`wanted[i]` for `names[i]`):
    /// one small `Get` per pair, all in flight at once. A property the unit cannot give is
    /// absent.
    pub fn get_properties(
        &self,
        names: &[String],
        wanted: &[&[(&str, &str)]],
    ) -> Result<Vec<Properties>> {
        self.block_on(async { Ok(self.burst(self.gets(names, wanted)).await) })
    }

    async fn gets(&self, names: &[String], wanted: &[&[(&str, &str)]]) -> Vec<Properties> {
        let gets = names
            .iter()
            .zip(wanted)
            .flat_map(|(name, pairs)| {
                let path = unit_path(name);
                pairs.iter().map(move |pair| (path.clone(), *pair))
            })
            .map(|(path, (interface, property))| async move {
                let reply = self
                    .call_properties(path.as_str(), "Get", &(interface, property))
                    .await;
                (
                    property,
                    reply.and_then(|r| r.body().deserialize::<OwnedValue>()),
                )
            });
        let mut replies = bounded(self.in_flight, gets).await.into_iter();
        wanted
            .iter()
            .map(|pairs| {
                let mut props = Properties::new();
                for _ in pairs.iter() {
                    if let Some((property, Ok(value))) = replies.next() {
                        props.insert(property.to_string(), value);
                    }
                }
                props
            })
            .collect()
    }

    /// Asks the manager to announce every unit's changes (`PropertiesChanged`) from now on, so a
    /// monitor learns of a run that ended between two of its readings — a crash and its restart
    /// can both fit in one interval. The announcements queue up until [`Self::changes`] takes
    /// them.
    pub fn watch_changes(&self) -> Result<ChangeWatch> {
        self.block_on(async {
            subscribe(&self.manager().await?).await?;
            let rule = zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .sender("org.freedesktop.systemd1")?
                .interface("org.freedesktop.DBus.Properties")?
                .member("PropertiesChanged")?
                .path_namespace("/org/freedesktop/systemd1/unit")?
                .build();
            let stream =
                zbus::MessageStream::for_match_rule(rule, &self.conn, Some(CHANGES_QUEUED)).await?;
            Ok(ChangeWatch { stream })
        })
    }

    /// The announcements that arrived so far: (unit object path, changed properties). Reads
    /// nothing from the socket itself; every request made meanwhile brought them in, in order,
    /// ahead of its own reply.
    pub fn changes(&self, watch: &mut ChangeWatch) -> Vec<(String, Properties)> {
        use futures_util::FutureExt as _;
        let mut out = Vec::new();
        while let Some(Some(Ok(msg))) = watch.stream.next().now_or_never() {
            let Some(path) = msg.header().path().map(|p| p.to_string()) else {
                continue;
            };
            if let Ok((_iface, changed, _invalidated)) =
                msg.body()
                    .deserialize::<(String, HashMap<String, OwnedValue>, Vec<String>)>()
            {
                out.push((path, changed));
            }
        }
        out
    }

    /// Turns on lingering for a user (their manager starts at boot, without a login) via logind.
    pub fn enable_linger(uid: u32) -> Result<()> {
        zbus::block_on(async {
            let conn = zbus::Connection::system().await?;
            let login = LoginProxy::new(&conn).await?;
            login.set_user_linger(uid, true, false).await?;
            Ok(())
        })
    }
}

/// How to reach the manager: `RGEN_DBUS_VIA=bus` skips its private socket (to compare, or where
/// a bus is wanted), `private` insists on it; unset, the private socket when usable, else the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Auto,
    Bus,
    Private,
}

impl Via {
    fn from_env() -> Result<Via> {
        match std::env::var("RGEN_DBUS_VIA").as_deref() {
            Err(_) | Ok("") | Ok("auto") => Ok(Via::Auto),
            Ok("bus") => Ok(Via::Bus),
            Ok("private") => Ok(Via::Private),
            Ok(other) => bail!("RGEN_DBUS_VIA={other:?}: expected bus, private or auto"),
        }
    }
}

/// The scope's manager's private socket, when it is the manager the default bus address leads to
/// and it would talk to us: systemd serves it only to root and to the manager's own user.
fn private_socket(scope: Scope) -> Option<std::path::PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    match scope {
        Scope::System => {
            let default_bus = match env("DBUS_SYSTEM_BUS_ADDRESS") {
                None => true,
                Some(a) => {
                    a == "unix:path=/run/dbus/system_bus_socket"
                        || a == "unix:path=/var/run/dbus/system_bus_socket"
                }
            };
            (default_bus && nix::unistd::geteuid().is_root()).then(|| "/run/systemd/private".into())
        }
        Scope::User => {
            let runtime = std::path::PathBuf::from(env("XDG_RUNTIME_DIR")?);
            let default_bus = match env("DBUS_SESSION_BUS_ADDRESS") {
                None => true,
                Some(a) => {
                    a.to_str() == Some(&format!("unix:path={}", runtime.join("bus").display()))
                }
            };
            default_bus.then(|| runtime.join("systemd/private"))
        }
    }
}

/// Connects to a bus without the helper threads zbus starts by default: the socket is connected
/// here rather than on a blocking pool, and the connection's reader runs on the caller's thread
/// (see [`drive`]). A short-lived command like `status` pays for every thread it starts.
async fn open_bus(address: zbus::Result<zbus::Address>) -> zbus::Result<zbus::Connection> {
    use zbus::address::transport::{Transport, UnixSocket};
    let address = address?;
    let socket = match address.transport() {
        Transport::Unix(unix) => match unix.path() {
            UnixSocket::File(path) => Some(UnixStream::connect(path)),
            // Abstract sockets (rare for these buses) go through zbus's own connect.
            _ => None,
        },
        _ => None,
    };
    let builder = match socket {
        Some(stream) => {
            let stream = stream.map_err(|e| zbus::Error::InputOutput(e.into()))?;
            stream
                .set_nonblocking(true)
                .map_err(|e| zbus::Error::InputOutput(e.into()))?;
            zbus::connection::Builder::async_io_unix_stream(stream)
        }
        None => zbus::connection::Builder::address(address)?,
    };
    builder.internal_executor(false).build().await
}

/// Completes `request` while ticking the connection's executor, which reads replies and signals
/// off the socket (the connection has no executor thread of its own, see [`open_bus`]).
async fn drive<T>(conn: &zbus::Connection, request: impl Future<Output = T>) -> T {
    let executor = conn.executor();
    let ticking = async {
        loop {
            executor.tick().await;
        }
    };
    match futures_util::future::select(pin!(request), pin!(ticking)).await {
        futures_util::future::Either::Left((answer, _)) => answer,
        futures_util::future::Either::Right((never, _)) => never,
    }
}

fn listing(u: UnitRow) -> UnitListing {
    UnitListing {
        name: u.0,
        load_state: u.2,
        active_state: u.3,
        sub_state: u.4,
        path: u.6,
    }
}

/// How a job the manager would not even queue is reported when policy (polkit) said no.
pub const NOT_PERMITTED: &str = "refused (not permitted)";

/// Whether the manager refused a call for lack of privilege rather than for what was asked.
pub fn is_not_permitted(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::MethodError(name, _, _)
        if name.as_str() == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
            || name.as_str() == "org.freedesktop.DBus.Error.AccessDenied")
}

/// Asks the manager to send this connection its signals, which it sends only to subscribed
/// clients. A second Subscribe on the same connection is refused with AlreadySubscribed, which
/// is fine.
async fn subscribe(m: &ManagerProxy<'_>) -> Result<()> {
    match m.subscribe().await {
        Err(e)
            if !dbus_message(&e).contains("already subscribed")
                && !e.to_string().contains("AlreadySubscribed") =>
        {
            Err(anyhow::Error::from(e).context("cannot subscribe to manager signals"))
        }
        _ => Ok(()),
    }
}

fn dbus_message(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(_, Some(msg), _) => msg.clone(),
        other => other.to_string(),
    }
}

/// A unit's object path, as systemd names it (`bus_label_escape`: every byte that is not an ASCII
/// letter, or a digit after the first position, becomes `_xx`). Asking for it loads the unit if
/// needed, so stopped units answer too — without a `LoadUnit` round trip first.
pub fn unit_path(unit: &str) -> OwnedObjectPath {
    let mut label = String::with_capacity(unit.len() * 2);
    for (i, b) in unit.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()) {
            label.push(b as char);
        } else {
            label.push_str(&format!("_{b:02x}"));
        }
    }
    if label.is_empty() {
        label.push('_');
    }
    OwnedObjectPath::try_from(format!("/org/freedesktop/systemd1/unit/{label}"))
        .expect("escaped labels are valid paths")
}

/// Typed readers for property maps.
pub fn prop_u64(p: &Properties, key: &str) -> Option<u64> {
    p.get(key).and_then(|v| u64::try_from(v).ok())
}

pub fn prop_bool(p: &Properties, key: &str) -> Option<bool> {
    p.get(key).and_then(|v| bool::try_from(v).ok())
}

pub fn prop_u32(p: &Properties, key: &str) -> Option<u32> {
    p.get(key).and_then(|v| u32::try_from(v).ok())
}

pub fn prop_i32(p: &Properties, key: &str) -> Option<i32> {
    p.get(key).and_then(|v| i32::try_from(v).ok())
}

pub fn prop_str(p: &Properties, key: &str) -> Option<String> {
    p.get(key)
        .and_then(|v| <&str>::try_from(v).ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_services_go_through_the_bus_and_many_through_the_private_socket() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Traffic::expected(&dir.path().join("missing")), Traffic::Few);
        for i in 0..MANY_FROM - 1 {
            std::fs::write(dir.path().join(format!("s{i}.service")), "").unwrap();
        }
        // Other files (targets, sockets, environment files) do not count.
        std::fs::write(dir.path().join("rgen-x.target"), "").unwrap();
        std::fs::write(dir.path().join("s0.env"), "").unwrap();
        assert_eq!(Traffic::expected(dir.path()), Traffic::Few);
        std::fs::write(dir.path().join("last.service"), "").unwrap();
        assert_eq!(Traffic::expected(dir.path()), Traffic::Many);
    }

    #[test]
    fn unit_paths_follow_systemds_escaping() {
        assert_eq!(
            unit_path("nginx.service").as_str(),
            "/org/freedesktop/systemd1/unit/nginx_2eservice"
        );
        assert_eq!(
            unit_path("app@1.service").as_str(),
            "/org/freedesktop/systemd1/unit/app_401_2eservice"
        );
        assert_eq!(
            unit_path("1x.service").as_str(),
            "/org/freedesktop/systemd1/unit/_31x_2eservice"
        );
        assert_eq!(
            unit_path("a-b_c.service").as_str(),
            "/org/freedesktop/systemd1/unit/a_2db_5fc_2eservice"
        );
    }
}
