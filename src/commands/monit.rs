//! `rgen monit` (`pm2 monit`): the installed apps live — CPU over each interval, the app's own
//! memory against its `max_memory_restart`, a history to see a leak's slope, the events the
//! manager knows (OOM kill, start limit, backoff), the selected app's log, and restart, reload
//! or stop without leaving the screen. Or, for scripts, one table (`--once`) or a stream of
//! JSON lines (`--json-lines`).
//!
//! The screen's state and drawing are `observe::monit` (pure, tested on ratatui's
//! `TestBackend`); this file owns the terminal — raw mode and the alternate screen, restored on
//! `q`, Ctrl-C, SIGTERM/SIGHUP and panics alike — and the manager.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use crossterm::event::{self, Event as TermEvent, KeyEventKind};

use super::installed;
use crate::apply::inventory::InstalledApp;
use crate::backend::{self, Manager, Verb};
use crate::observe::logs::Follower;
use crate::observe::monit::render::{self, Theme};
use crate::observe::monit::{Action, AppView, Command, Monitor};
use crate::observe::sample::Sampler;
use crate::observe::select::select;
use crate::observe::status::{format_bytes, format_duration_ms};
use crate::settings::{MonitOutput, MonitSettings};

/// The longest the screen waits for a key before looking at signals and the clock again.
const POLL_CAP: Duration = Duration::from_millis(250);
/// Lines of history the log pane starts with.
const LOG_HISTORY: usize = 50;

pub fn run(s: &MonitSettings) -> Result<i32> {
    let renderer = backend::renderer(&s.target);
    let (_, apps) = installed(renderer.as_ref())?;
    let selected = select(&apps, &s.apps)?;
    if selected.is_empty() {
        bail!(
            "rgen has installed no apps in {}",
            renderer.manager_dir().display()
        );
    }
    if s.output == MonitOutput::Screen
        && !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal())
    {
        let mut err = anstream::stderr().lock();
        let red = anstyle::AnsiColor::Red.on_default().bold();
        writeln!(
            err,
            "{red}error{red:#}: rgen monit draws a live screen and needs a terminal"
        )?;
        writeln!(
            err,
            "  hint: `rgen monit --once` prints one table; `rgen monit --json-lines [--count N]` \
             a stream for scripts"
        )?;
        return Ok(2);
    }
    let manager = backend::connect(&s.target)?;
    let mut sampler = manager.sampler(&selected)?;
    let describe = format!("{} {}", s.target.backend.as_str(), s.target.scope.as_str());
    match s.output {
        MonitOutput::Once => once(s, sampler.as_mut(), describe),
        MonitOutput::JsonLines => json_lines(s, sampler.as_mut(), describe),
        MonitOutput::Screen => screen(s, manager.as_ref(), sampler.as_mut(), &selected, describe),
    }
}

/// Two readings one interval apart, so CPU is what the apps use now, not since they started.
fn once(s: &MonitSettings, sampler: &mut dyn Sampler, describe: String) -> Result<i32> {
    let mut monitor = Monitor::new(describe, s.interval);
    let start = Instant::now();
    monitor.push(sampler.sample()?, Duration::ZERO);
    std::thread::sleep(s.interval);
    monitor.push(sampler.sample()?, start.elapsed());
    let mut out = anstream::stdout().lock();
    write!(out, "{}", table(&monitor))?;
    Ok(0)
}

/// The apps as a plain table: what the screen shows, without the graph.
pub fn table(m: &Monitor) -> String {
    let mut rows = vec![
        [
            "name",
            "status",
            "pid",
            "uptime",
            "↺",
            "cpu",
            "memory",
            "of limit",
            "cache",
            "last event",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for i in m.visible() {
        let a: &AppView = &m.apps[i];
        rows.push(vec![
            a.name().to_string(),
            a.status(),
            dash(a.pid().map(|p| p.to_string())),
            dash(a.uptime_ms().map(format_duration_ms)),
            a.restarts().to_string(),
            dash(a.cpu().map(|c| format!("{c:.1}%"))),
            dash(a.own_memory().map(format_bytes)),
            match (a.limit_share(), a.limit()) {
                (Some(share), Some(l)) => format!("{:.0}% of {}", share * 100.0, format_bytes(l)),
                (None, Some(l)) => format!("- of {}", format_bytes(l)),
                _ => "-".into(),
            },
            dash(a.cache().map(format_bytes)),
            a.last_event
                .map(|(e, tick)| format!("{} {} ago", e.as_str(), m.ago(tick)))
                .unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(t, w)| format!("{t:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// One JSON object per app per reading. The first reading is the baseline CPU is measured
/// from; it is not printed.
fn json_lines(s: &MonitSettings, sampler: &mut dyn Sampler, describe: String) -> Result<i32> {
    let stop = interrupted()?;
    let mut monitor = Monitor::new(describe, s.interval);
    let mut last = Instant::now();
    monitor.push(sampler.sample()?, Duration::ZERO);
    let mut printed = 0u64;
    let mut out = std::io::stdout().lock();
    while s.count.is_none_or(|n| printed < n) {
        if sleep_unless(&stop, s.interval) {
            break;
        }
        let samples = sampler.sample()?;
        let now = Instant::now();
        let elapsed = now - last;
        last = now;
        let time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let events: Vec<Vec<Vec<&'static str>>> = samples
            .iter()
            .map(|a| {
                a.units
                    .iter()
                    .map(|u| u.events.iter().map(|e| e.as_str()).collect())
                    .collect()
            })
            .collect();
        monitor.push(samples, elapsed);
        for (app, events) in monitor.apps.iter().zip(events) {
            let units: Vec<serde_json::Value> = app
                .latest
                .units
                .iter()
                .zip(&app.unit_cpu)
                .zip(&events)
                .map(|((u, cpu), ev)| {
                    serde_json::json!({
                        "unit": u.status.unit,
                        "status": u.status.status,
                        "pid": u.status.pid,
                        "restarts": u.status.restarts,
                        "cpu_percent": cpu.map(round2),
                        "memory_bytes": u.status.memory_bytes,
                        "memory_own_bytes": u.status.memory_own_bytes,
                        "memory_cache_bytes": u.status.memory_cache_bytes,
                        "memory_limit_bytes": u.status.memory_limit_bytes,
                        "result": u.status.result,
                        "events": ev,
                    })
                })
                .collect();
            let mut all: Vec<&str> = events.iter().flatten().copied().collect();
            all.dedup();
            let line = serde_json::json!({
                "time_ms": time_ms,
                "app": app.name(),
                "group": app.latest.group,
                "status": app.status(),
                "pid": app.pid(),
                "uptime_ms": app.uptime_ms(),
                "restarts": app.restarts(),
                "cpu_percent": app.cpu().map(round2),
                "memory_own_bytes": app.own_memory(),
                "memory_cache_bytes": app.cache(),
                "memory_limit_bytes": app.limit(),
                "memory_limit_share": app.limit_share().map(|s| (s * 1000.0).round() / 1000.0),
                "events": all,
                "units": units,
            });
            serde_json::to_writer(&mut out, &line)?;
            writeln!(out)?;
        }
        out.flush()?;
        printed += 1;
    }
    Ok(0)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// SIGTERM, SIGHUP and SIGINT set the flag (a terminal in raw mode sends Ctrl-C as a key).
fn interrupted() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&flag))?;
    }
    Ok(flag)
}

/// Sleeps `d` in short steps; true when interrupted meanwhile.
fn sleep_unless(stop: &AtomicBool, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        std::thread::sleep((until - now).min(POLL_CAP));
    }
}

/// Leaves raw mode and the alternate screen when dropped, however the screen ends.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> Result<TerminalGuard> {
        crossterm::terminal::enable_raw_mode()?;
        let guard = TerminalGuard;
        crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::EnterAlternateScreen,
            // Not ratatui's `clear`, which asks the terminal where its cursor is: a terminal
            // that does not answer (a bare pty, some serial consoles) would fail the screen.
            crossterm::terminal::Clear(crossterm::terminal::ClearType::All),
            crossterm::cursor::Hide
        )?;
        // A panic prints its message on the restored screen, not into the alternate one.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        Ok(guard)
    }
}

fn restore_terminal() {
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = crossterm::terminal::disable_raw_mode();
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn screen(
    s: &MonitSettings,
    manager: &dyn Manager,
    sampler: &mut dyn Sampler,
    apps: &[&InstalledApp],
    describe: String,
) -> Result<i32> {
    let stop = interrupted()?;
    let theme = Theme { color: s.color };
    let mut monitor = Monitor::new(describe, s.interval);
    let mut last = Instant::now();
    // The first reading before the screen takes over, so a failing manager is an ordinary error.
    monitor.push(sampler.sample()?, Duration::ZERO);
    let _guard = TerminalGuard::enter()?;
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))?;
    let mut follower: Option<Follower> = None;
    let mut next = last + s.interval;
    let mut dirty = true;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // The log pane follows the selected app.
        let wanted = monitor.selected_app().map(str::to_string);
        if wanted != monitor.logs_of {
            follower = None;
            monitor.logs.clear();
            if let Some(app) = wanted
                .as_deref()
                .and_then(|n| apps.iter().find(|a| a.name == n))
            {
                let (f, history) = Follower::start(s.target.scope, &app.log_sources(), LOG_HISTORY);
                monitor.add_log_lines(history);
                follower = Some(f);
            }
            monitor.logs_of = wanted;
            dirty = true;
        }
        if dirty {
            terminal.draw(|frame| render::draw(frame, &monitor, theme))?;
            dirty = false;
        }
        let now = Instant::now();
        let wait = next.saturating_duration_since(now).min(POLL_CAP);
        if event::poll(wait)? {
            match event::read()? {
                TermEvent::Key(key) if key.kind != KeyEventKind::Release => {
                    match monitor.key(key) {
                        Some(Command::Quit) => break,
                        Some(Command::Control(action, app)) => {
                            terminal.draw(|frame| render::draw(frame, &monitor, theme))?;
                            monitor.message = Some(control(manager, apps, action, &app));
                        }
                        None => {}
                    }
                    dirty = true;
                }
                TermEvent::Resize(..) => {
                    terminal.autoresize()?;
                    dirty = true;
                }
                _ => {}
            }
        }
        if Instant::now() >= next {
            match sampler.sample() {
                Ok(samples) => {
                    let now = Instant::now();
                    monitor.push(samples, now - last);
                    last = now;
                }
                Err(e) => monitor.message = Some(format!("reading failed: {e:#}")),
            }
            if let Some(f) = follower.as_mut() {
                monitor.add_log_lines(f.poll());
            }
            next += s.interval;
            // After a long pause (a suspended terminal), start the cadence afresh.
            if next < Instant::now() {
                next = Instant::now() + s.interval;
            }
            dirty = true;
        }
    }
    drop(terminal);
    Ok(0)
}

/// Carries out an action on one app through the manager; the outcome in a few words.
fn control(manager: &dyn Manager, apps: &[&InstalledApp], action: Action, app: &str) -> String {
    let Some(target) = apps.iter().find(|a| a.name == app) else {
        return format!("{app} is no longer installed");
    };
    let verb = match action {
        Action::Restart => Verb::Restart,
        Action::Reload => Verb::Reload,
        Action::Stop => Verb::Stop,
    };
    let mut out = Vec::new();
    match manager.control(verb, &[*target], &mut out) {
        Ok(failures) if failures.is_empty() => format!("{app}: {}", verb.past()),
        Ok(failures) => failures
            .iter()
            .map(|f| format!("failed: {}: {}", f.unit, f.why))
            .collect::<Vec<_>>()
            .join("; "),
        Err(e) => format!("{} of {app} failed: {e:#}", action.as_str()),
    }
}
