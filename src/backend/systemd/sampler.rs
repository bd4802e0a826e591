//! Readings of installed apps on systemd, shared by `status` (one reading) and `monit` (one a
//! second): the manager only for what it alone knows — states (one `ListUnitsByNames` for every
//! unit), the restart counter (a small `Get` per unit), the main pid where the unit's cgroup
//! does not tell it (a second `Get`), and why a run ended (only for units that are not
//! running) — and the kernel for the rest: memory, CPU and a lone process from the unit's
//! cgroup files, its cgroup path and uptime from `/proc`.
//!
//! A repeated sampler also subscribes to the manager's change announcements, because a crash
//! and its restart often both fit between two readings: the announcement of `Result=oom-kill`
//! (cgroup v2) or of a SIGKILL at the limit (v1) is how an OOM kill is told from a restart.

use std::collections::HashMap;

use anyhow::Result;

use super::cgroup::{self, Cgroups, Reading};
use super::dbus::{ChangeWatch, Client, Properties, prop_i32, prop_str, prop_u32, unit_path};
use super::names;
use crate::apply::inventory::InstalledApp;
use crate::observe::sample::{self, AppSample, Event, Sampler, UnitSample};
use crate::observe::status::UnitStatus;
use crate::target::Scope;

const SERVICE: &str = "org.freedesktop.systemd1.Service";
/// What every reading asks of every unit (its states come with the listing).
const RESTARTS: &[(&str, &str)] = &[(SERVICE, "NRestarts")];
/// ... and of a unit whose cgroup cannot be trusted to tell its main process (see
/// [`main_pids_to_ask`]).
const RESTARTS_AND_PID: &[(&str, &str)] = &[(SERVICE, "NRestarts"), (SERVICE, "MainPID")];
/// A running unit whose cgroup held more than its main process (or none).
const PID: &[(&str, &str)] = &[(SERVICE, "MainPID")];
/// Why the last run ended: asked only of units that are not running (a running unit's are
/// `success` and 0, reset by systemd when it starts the unit).
const ENDED: &[(&str, &str)] = &[(SERVICE, "Result"), (SERVICE, "ExecMainStatus")];
/// A running unit whose cgroup `/proc` could not tell.
const CGROUP: &[(&str, &str)] = &[(SERVICE, "ControlGroup")];
/// A running unit whose cgroup was not found where its kind's are, and whose main process is
/// not known either.
const PID_AND_CGROUP: &[(&str, &str)] = &[(SERVICE, "MainPID"), (SERVICE, "ControlGroup")];

pub struct SystemdSampler<'a> {
    bus: &'a Client,
    cgroups: Cgroups,
    apps: Vec<(String, String, std::ops::Range<usize>)>,
    units: Vec<Tracked>,
    by_path: HashMap<String, usize>,
    watch: Option<ChangeWatch>,
    /// The kernel's count of OOM kills (`/proc/vmstat`) at the previous reading.
    oom_kills: Option<u64>,
    /// Where the units of each kind (see [`slice_kind`]) have their cgroups, learned from the
    /// first of them whose `/proc/PID/cgroup` told: systemd names a unit's cgroup after the unit,
    /// in its slice's directory, so one `/proc` read per slice does instead of one per unit.
    slices: HashMap<String, String>,
}

/// Units that share a slice unless told otherwise: instances of one template get a slice of
/// their own (`system-api.slice`), every other unit the manager's default one.
fn slice_kind(unit: &str) -> &str {
    names::template_of(unit).unwrap_or("")
}

/// Where systemd puts a unit's cgroup unless told otherwise (`Slice=`): in the manager's default
/// slice, and an instance of a template in a slice of the template's own, named with the
/// template's name escaped. (A name systemd's cgroup escaping would prefix with `_`, such as a
/// unit called `cpu.service`, is guessed wrong; that only costs a `/proc` read later.)
fn default_cgroup(scope: Scope, unit: &str) -> String {
    let (slice, prefix) = match scope {
        Scope::System => ("/system.slice".to_string(), "system-"),
        Scope::User => {
            let uid = nix::unistd::getuid();
            (
                format!("/user.slice/user-{uid}.slice/user@{uid}.service/app.slice"),
                "app-",
            )
        }
    };
    match names::template_of(unit) {
        None => format!("{slice}/{unit}"),
        Some(template) => format!("{slice}/{prefix}{}.slice/{unit}", names::escape(template)),
    }
}

/// The slice a unit's cgroup lies in, when that cgroup is named after the unit.
fn slice_of<'c>(cgroup: &'c str, unit: &str) -> Option<&'c str> {
    cgroup
        .rsplit_once('/')
        .filter(|(_, leaf)| *leaf == unit)
        .map(|(slice, _)| slice)
}

/// A unit's cgroup, read while the manager answered.
struct Early {
    cgroup: String,
    reading: Reading,
    /// Found where systemd puts units by default (not known from an earlier reading, nor
    /// learned for its kind): trusted once the layout is confirmed for its kind.
    guessed: bool,
    /// The cgroup's one process and its age, where the manager was not asked for the main one.
    alone: Option<(u32, Option<u64>)>,
}

/// Below this many units per CPU, one thread reads every cgroup.
const UNITS_PER_THREAD: usize = 48;

/// The one process of a cgroup that holds exactly one.
fn only(procs: &[u32]) -> Option<u32> {
    match procs {
        [pid] => Some(*pid),
        _ => None,
    }
}

/// A running unit alone in its cgroup is its main process: rgen's units have no other process
/// of their own then (control processes run only in the other states).
fn alone_is_main(active: &str, sub: &str) -> bool {
    active == "active" && sub == "running"
}

/// Not known to be stopped: a monitor's unit stopped at its previous reading likely still has
/// no cgroup.
fn likely_running(unit: &Tracked) -> bool {
    !unit.seen || is_running(&unit.active_state)
}

/// What the sampler remembers of one unit between readings.
#[derive(Default)]
struct Tracked {
    name: String,
    shimmed: bool,
    limit: Option<u64>,
    cgroup: Option<String>,
    seen: bool,
    restarts: u32,
    main_pid: Option<u32>,
    active_state: String,
    sub_state: String,
    /// Memory at (or reclaimed at) its limit in the previous reading.
    near_limit: bool,
    /// Share of its limit at the previous reading.
    share: f64,
    /// Runs that ended since the previous reading, as announced: (result, exit status).
    ended: Vec<(String, Option<i32>)>,
    /// An `auto-restart` was announced since the previous reading.
    backoff_announced: bool,
    /// A run's end was reported and its restart not yet counted: the restart is that event.
    restart_reported: bool,
}

impl<'a> SystemdSampler<'a> {
    /// `repeated`: readings will follow (subscribe to the manager's announcements).
    pub fn new(bus: &'a Client, apps: &[&InstalledApp], repeated: bool) -> Result<Self> {
        let mut units = Vec::new();
        let mut entries = Vec::new();
        for app in apps {
            let start = units.len();
            for name in app.services() {
                units.push(Tracked {
                    name,
                    shimmed: app.shimmed(),
                    limit: app.memory_limit(),
                    ..Tracked::default()
                });
            }
            entries.push((app.name.clone(), app.group.clone(), start..units.len()));
        }
        let by_path = units
            .iter()
            .enumerate()
            .map(|(i, u)| (unit_path(&u.name).to_string(), i))
            .collect();
        let watch = if repeated {
            Some(bus.watch_changes()?)
        } else {
            None
        };
        Ok(SystemdSampler {
            bus,
            cgroups: Cgroups::default(),
            apps: entries,
            units,
            by_path,
            watch,
            oom_kills: None,
            slices: HashMap::new(),
        })
    }

    /// Takes in what the manager announced since the previous reading.
    fn take_announcements(&mut self) {
        let Some(watch) = self.watch.as_mut() else {
            return;
        };
        for (path, props) in self.bus.changes(watch) {
            let Some(&i) = self.by_path.get(&path) else {
                continue;
            };
            let unit = &mut self.units[i];
            if let Some(result) = prop_str(&props, "Result")
                && result != "success"
            {
                unit.ended
                    .push((result, prop_i32(&props, "ExecMainStatus")));
            }
            if prop_str(&props, "SubState").as_deref() == Some("auto-restart") {
                unit.backoff_announced = true;
            }
        }
    }
}

/// A unit's cgroup where it most likely is, read before the manager's answer: with its
/// processes where the manager is not asked for its main one, and that process's age when
/// it is alone there (likely the main one; see the use of [`Early::alone`]).
fn read_early(
    cgroups: &Cgroups,
    slices: &HashMap<String, String>,
    scope: Scope,
    u: &Tracked,
    asked: bool,
) -> Option<Early> {
    // Stopped at the previous reading (a monitor's): likely still no cgroup; read after
    // the answer if it runs again.
    if !likely_running(u) {
        return None;
    }
    let learned = || {
        let slice = slices.get(slice_kind(&u.name))?;
        Some(format!("{slice}/{}", u.name))
    };
    let (cgroup, guessed) = match u.cgroup.clone().or_else(learned) {
        Some(known) => (known, false),
        None => (default_cgroup(scope, &u.name), true),
    };
    let reading = cgroups.read_for(&cgroup, u.limit.is_some());
    if reading.memory.is_none() && reading.cpu_ns.is_none() {
        return None;
    }
    let alone = if asked {
        None
    } else if reading.procs.is_empty() {
        only(&cgroups.processes(&cgroup))
    } else {
        only(&reading.procs)
    };
    Some(Early {
        cgroup,
        reading,
        guessed,
        alone: alone.map(|pid| (pid, cgroup::proc_age_ms(pid))),
    })
}

/// Whose main pid to ask the manager for, rather than take a running unit's only process
/// in its cgroup (one request fewer per unit, about half of what a reading asks): a
/// shimmed unit's (its cgroup holds the shim and the app), and, for each kind of unit whose
/// cgroups were found by guessing where systemd puts them, one unit's, to confirm the guess
/// with — a process in a cgroup at the guessed path (another manager's, in a container that
/// sees its host's hierarchy) is not the unit's until a unit the manager vouches for is
/// found there.
fn main_pids_to_ask(units: &[Tracked], slices: &HashMap<String, String>) -> Vec<bool> {
    let mut asks: Vec<bool> = units.iter().map(|u| u.shimmed).collect();
    let mut vouched: std::collections::HashSet<&str> = slices.keys().map(String::as_str).collect();
    for (unit, &ask) in units.iter().zip(&asks) {
        if ask && likely_running(unit) {
            vouched.insert(slice_kind(&unit.name));
        }
    }
    for (unit, ask) in units.iter().zip(asks.iter_mut()) {
        if unit.cgroup.is_none() && likely_running(unit) && vouched.insert(slice_kind(&unit.name)) {
            *ask = true;
        }
    }
    asks
}

fn oom_kills_so_far() -> Option<u64> {
    let text = cgroup::read_kernel_file("/proc/vmstat")?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
}

fn is_running(active: &str) -> bool {
    active == "active" || active == "reloading"
}

impl Sampler for SystemdSampler<'_> {
    fn sample(&mut self) -> Result<Vec<AppSample>> {
        let names: Vec<String> = self.units.iter().map(|u| u.name.clone()).collect();
        let asks_pid = main_pids_to_ask(&self.units, &self.slices);
        let wanted: Vec<&[(&str, &str)]> = asks_pid
            .iter()
            .map(|&ask| if ask { RESTARTS_AND_PID } else { RESTARTS })
            .collect();
        // Cgroups where they most likely are, read while the manager answers: the two take
        // about as long, and the kernel's files need nothing from the manager but the path.
        let scope = self.bus.scope;
        let (listed, early) = self
            .bus
            .units_with_properties_meanwhile(&names, &wanted, || {
                let items: Vec<(&Tracked, bool)> =
                    self.units.iter().zip(asks_pid.iter().copied()).collect();
                let (cgroups, slices) = (&self.cgroups, &self.slices);
                crate::parallel::map_chunks(&items, UNITS_PER_THREAD, |part| {
                    part.iter()
                        .map(|&(u, asked)| read_early(cgroups, slices, scope, u, asked))
                        .collect()
                })
            });
        let listed = listed?;
        let mut early = early;
        // Announcements queued ahead of the listing's reply are in by now.
        self.take_announcements();
        let mut by_name: HashMap<&str, (&super::dbus::UnitListing, &Properties)> = listed
            .iter()
            .map(|(l, p)| (l.name.as_str(), (l, p)))
            .collect();
        // Whether systemd's default layout holds, per kind: told by the first running unit
        // found there whose main process the manager named, or that has a lone process, from
        // where `/proc` says that process is (the kernel's word, in this namespace).
        let mut layout_holds: HashMap<String, bool> = HashMap::new();
        for (unit, found) in self.units.iter().zip(&early) {
            let Some(found) = found.as_ref().filter(|e| e.guessed) else {
                continue;
            };
            let Some((listing, props)) = by_name.get(unit.name.as_str()) else {
                continue;
            };
            let kind = slice_kind(&unit.name);
            if !is_running(&listing.active_state) || layout_holds.contains_key(kind) {
                continue;
            }
            let pid = match props.get("MainPID") {
                Some(_) => prop_u32(props, "MainPID").filter(|&p| p != 0),
                None => found
                    .alone
                    .filter(|_| alone_is_main(&listing.active_state, &listing.sub_state))
                    .map(|(pid, _)| pid),
            };
            // (No process to tell, or gone meanwhile: undecided, for another unit to tell.)
            if let Some(real) = pid.and_then(cgroup::proc_cgroup) {
                layout_holds.insert(kind.to_string(), real == found.cgroup);
            }
        }
        // Second round, only where needed: why stopped units ended, the main processes and
        // cgroups of running units their cgroups did not tell.
        let mut second: Vec<(usize, &[(&str, &str)])> = Vec::new();
        let mut current: Vec<(String, String, Option<u32>, u32)> = Vec::new();
        for (i, unit) in self.units.iter_mut().enumerate() {
            let (active, sub, asked_pid, restarts) = match by_name.remove(unit.name.as_str()) {
                Some((l, p)) => (
                    l.active_state.clone(),
                    l.sub_state.clone(),
                    p.contains_key("MainPID")
                        .then(|| prop_u32(p, "MainPID").filter(|&pid| pid != 0)),
                    prop_u32(p, "NRestarts").unwrap_or(0),
                ),
                None => ("inactive".into(), "dead".into(), None, 0),
            };
            if !is_running(&active) {
                second.push((i, ENDED));
                current.push((active, sub, None, restarts));
                continue;
            }
            let kind = slice_kind(&unit.name);
            let holds = |e: &Early| !e.guessed || layout_holds.get(kind) == Some(&true);
            if early[i]
                .as_ref()
                .is_some_and(|e| e.guessed && layout_holds.get(kind) == Some(&false))
            {
                early[i] = None;
            }
            let confirmed = early[i].as_ref().filter(|e| holds(e));
            let main_pid = match asked_pid {
                Some(pid) => pid,
                None => confirmed
                    .filter(|_| alone_is_main(&active, &sub))
                    .and_then(|e| e.alone)
                    .map(|(pid, _)| pid),
            };
            let pid_known = asked_pid.is_some() || main_pid.is_some();
            if unit.cgroup.is_none() {
                unit.cgroup = match confirmed {
                    Some(e) => Some(e.cgroup.clone()),
                    None => main_pid.and_then(cgroup::proc_cgroup),
                };
                if let Some(slice) = unit.cgroup.as_deref().and_then(|c| slice_of(c, &unit.name)) {
                    self.slices.insert(kind.to_string(), slice.to_string());
                }
            }
            match (pid_known, unit.cgroup.is_some()) {
                (true, true) => {}
                (true, false) => second.push((i, CGROUP)),
                (false, true) => second.push((i, PID)),
                (false, false) => second.push((i, PID_AND_CGROUP)),
            }
            current.push((active, sub, main_pid, restarts));
        }
        let second_props = if second.is_empty() {
            Vec::new()
        } else {
            let names: Vec<String> = second
                .iter()
                .map(|(i, _)| self.units[*i].name.clone())
                .collect();
            let wanted: Vec<&[(&str, &str)]> = second.iter().map(|(_, w)| *w).collect();
            self.bus.get_properties(&names, &wanted)?
        };
        let mut extra: HashMap<usize, Properties> =
            second.iter().map(|(i, _)| *i).zip(second_props).collect();
        for (i, props) in &extra {
            if let Some(pid) = prop_u32(props, "MainPID").filter(|&pid| pid != 0) {
                current[*i].2 = Some(pid);
            }
        }
        // (Only a monitor compares it with a previous reading.)
        let oom_kills = self.watch.as_ref().and_then(|_| oom_kills_so_far());
        let oom_happened = matches!((self.oom_kills, oom_kills), (Some(a), Some(b)) if b > a);
        self.oom_kills = oom_kills;

        // A lone main process's age was read with its cgroup; the others' are read now.
        let read_ages: Vec<Option<Option<u64>>> = current
            .iter()
            .zip(&early)
            .map(|((_, _, main_pid, _), e)| {
                e.as_ref()
                    .and_then(|e| e.alone)
                    .filter(|&(alone, _)| Some(alone) == *main_pid)
                    .map(|(_, age)| age)
            })
            .collect();
        let running_pids: Vec<Option<u32>> = current
            .iter()
            .zip(&read_ages)
            .map(|((active, _, main_pid, _), read)| {
                main_pid.filter(|_| is_running(active) && read.is_none())
            })
            .collect();
        let mut ages = cgroup::ages_ms(&running_pids).into_iter();
        let mut readings = Vec::with_capacity(self.units.len());
        for (i, (unit, (active, sub, main_pid, restarts))) in
            self.units.iter_mut().zip(current).enumerate()
        {
            let age = ages.next().flatten().or(read_ages[i].flatten());
            let props = extra.remove(&i).unwrap_or_default();
            if let Some(cg) = prop_str(&props, "ControlGroup").filter(|c| !c.is_empty()) {
                unit.cgroup = Some(cg);
            }
            let running = is_running(&active);
            let mut reading = match (&unit.cgroup, running, early[i].take()) {
                (Some(cg), true, Some(e)) if *cg == e.cgroup => e.reading,
                (Some(cg), true, _) => self.cgroups.read_for(cg, unit.limit.is_some()),
                _ => Reading::default(),
            };
            if running && reading.memory.is_none() && reading.cpu_ns.is_none() {
                // Nothing there: the unit was put in another slice (a drop-in's `Slice=`), or
                // moved since. Where its process says it is now, then.
                if let Some(cg) = main_pid
                    .and_then(cgroup::proc_cgroup)
                    .filter(|cg| unit.cgroup.as_ref() != Some(cg))
                {
                    reading = self.cgroups.read_for(&cg, unit.limit.is_some());
                    unit.cgroup = Some(cg);
                }
            }
            let pid = if unit.shimmed {
                main_pid.and_then(cgroup::first_child).or(main_pid)
            } else {
                main_pid
            };
            let cpu_ns = reading.cpu_ns.or_else(|| {
                let main = cgroup::proc_cpu_ns(main_pid?)?;
                let app = pid
                    .filter(|&p| Some(p) != main_pid)
                    .and_then(cgroup::proc_cpu_ns);
                Some(main + app.unwrap_or(0))
            });
            let (result, exit_status) = if running {
                ("success".to_string(), Some(0))
            } else {
                (
                    prop_str(&props, "Result").unwrap_or_default(),
                    prop_i32(&props, "ExecMainStatus"),
                )
            };
            let status = UnitStatus {
                unit: unit.name.clone(),
                status: super::status::pm2_status(&active, &sub).to_string(),
                active_state: active.clone(),
                sub_state: sub.clone(),
                pid: pid.filter(|_| running),
                main_pid,
                uptime_ms: age,
                restarts,
                memory_bytes: reading.memory.filter(|_| running),
                memory_own_bytes: reading.own.filter(|_| running),
                memory_cache_bytes: reading.cache.filter(|_| running),
                memory_limit_bytes: unit.limit,
                cpu_ns: cpu_ns.filter(|_| running),
                result,
                exit_status,
            };
            let events = events(unit, &status, oom_happened);
            // Remember this reading for the next one.
            unit.seen = true;
            unit.restarts = restarts;
            unit.main_pid = main_pid;
            unit.active_state = active;
            unit.sub_state = sub;
            unit.near_limit =
                running && (reading.hit_limit || sample::at_limit(reading.memory, unit.limit));
            unit.share = match (reading.memory, unit.limit) {
                (Some(m), Some(l)) if running && l > 0 => m as f64 / l as f64,
                _ => 0.0,
            };
            readings.push(UnitSample { status, events });
        }
        let mut readings = readings.into_iter();
        Ok(self
            .apps
            .iter()
            .map(|(name, group, range)| AppSample {
                name: name.clone(),
                group: group.clone(),
                units: readings.by_ref().take(range.len()).collect(),
            })
            .collect())
    }
}

/// What happened to a unit between its previous reading and `now`.
fn events(unit: &mut Tracked, now: &UnitStatus, oom_happened: bool) -> Vec<Event> {
    let mut out = Vec::new();
    // Killed by SIGKILL while the kernel was killing for memory, with a limit of its own.
    let oom_likely = oom_happened && unit.limit.is_some() && (unit.near_limit || unit.share >= 0.5);
    for (result, status) in std::mem::take(&mut unit.ended) {
        if let Some(e) = sample::event_of_result(&result, status, unit.near_limit || oom_likely) {
            out.push(e);
        }
    }
    let rose = unit.seen && now.restarts > unit.restarts;
    if !unit.seen {
        // The first reading: only states that speak for themselves.
        if now.sub_state == "auto-restart" {
            out.push(Event::Backoff);
            unit.restart_reported = true;
        }
        if now.result == "start-limit-hit" {
            out.push(Event::StartLimit);
        }
        return out;
    }
    let reported_before = std::mem::take(&mut unit.restart_reported);
    if out.is_empty() && now.sub_state == "auto-restart" && unit.sub_state != "auto-restart"
        || out.is_empty() && rose && !reported_before
    {
        // Not announced (a one-off reading): judge from what is left.
        let ended =
            sample::event_of_result(&now.result, now.exit_status, unit.near_limit || oom_likely);
        out.push(ended.unwrap_or(if oom_likely {
            Event::OomKill
        } else {
            Event::Crash
        }));
    }
    // Reported now, restarted later: the coming restart is not another event.
    if !out.is_empty() && !rose {
        unit.restart_reported = true;
    }
    let backoff_now = now.sub_state == "auto-restart" && unit.sub_state != "auto-restart";
    if std::mem::take(&mut unit.backoff_announced) || backoff_now {
        out.push(Event::Backoff);
    }
    if now.result == "start-limit-hit"
        && now.active_state == "failed"
        && unit.active_state != "failed"
        && !out.contains(&Event::StartLimit)
    {
        out.push(Event::StartLimit);
    }
    // Started again by hand (`rgen restart`): a new process, no automatic restart counted.
    if !rose && now.main_pid.is_some() && unit.main_pid.is_some() && now.main_pid != unit.main_pid {
        out.push(Event::Restart);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_is_asked_for_main_pids_only_where_a_cgroup_cannot_tell() {
        let unit = |name: &str, shimmed: bool| Tracked {
            name: name.to_string(),
            shimmed,
            ..Tracked::default()
        };
        let units = [
            unit("a.service", false),
            unit("b.service", false),
            unit("web@1.service", true),
            unit("web@2.service", false),
            unit("api@1.service", false),
            unit("api@2.service", false),
        ];
        // One of each kind vouches for where its kind's cgroups are (a shimmed one already
        // does); shimmed units always ask (the shim and the app share the cgroup).
        assert_eq!(
            main_pids_to_ask(&units, &HashMap::new()),
            [true, false, true, false, true, false]
        );
        // A kind whose slice is known from an earlier reading needs no voucher.
        let learned = HashMap::from([(
            "api".to_string(),
            "/system.slice/system-api.slice".to_string(),
        )]);
        assert_eq!(
            main_pids_to_ask(&units, &learned),
            [true, false, true, false, false, false]
        );
        // A unit stopped at the previous reading does not vouch: the next one does.
        let mut units = units;
        units[0].seen = true;
        units[0].active_state = "inactive".into();
        assert_eq!(
            main_pids_to_ask(&units, &HashMap::new()),
            [false, true, true, false, true, false]
        );
    }

    #[test]
    fn only_a_lone_process_is_taken_for_the_main_one() {
        assert_eq!(only(&[42]), Some(42));
        assert_eq!(only(&[]), None);
        assert_eq!(only(&[42, 43]), None);
    }

    #[test]
    fn units_of_one_slice_are_found_from_one_of_them() {
        assert_eq!(slice_kind("api.service"), "");
        assert_eq!(slice_kind("web@3.service"), "web");
        assert_eq!(
            slice_of("/system.slice/api.service", "api.service"),
            Some("/system.slice")
        );
        assert_eq!(
            slice_of(
                "/system.slice/system-web.slice/web@3.service",
                "web@3.service"
            ),
            Some("/system.slice/system-web.slice")
        );
        // A cgroup not named after the unit (a process moved elsewhere) teaches nothing.
        assert_eq!(slice_of("/user.slice/session-1.scope", "api.service"), None);
    }

    #[test]
    fn cgroups_are_first_looked_for_where_systemd_puts_them_by_default() {
        assert_eq!(
            default_cgroup(Scope::System, "api.service"),
            "/system.slice/api.service"
        );
        assert_eq!(
            default_cgroup(Scope::System, "web@2.service"),
            "/system.slice/system-web.slice/web@2.service"
        );
        let uid = nix::unistd::getuid();
        assert_eq!(
            default_cgroup(Scope::User, "web@2.service"),
            format!(
                "/user.slice/user-{uid}.slice/user@{uid}.service/app.slice/app-web.slice/web@2.service"
            )
        );
        // As systemd 252 names it (`systemctl show -p ControlGroup`).
        assert_eq!(
            default_cgroup(Scope::System, "my-api.x_y@1.service"),
            "/system.slice/system-my\\x2dapi.x_y.slice/my-api.x_y@1.service"
        );
    }
}
