//! The screen's states drawn into ratatui's `TestBackend`, compared whole with insta snapshots
//! (`src/observe/monit/snapshots/`; `INSTA_UPDATE=always` to bless, then review the diff).

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::render::{Theme, draw};
use super::*;
use crate::observe::sample::{AppSample, Event, UnitSample};
use crate::observe::status::UnitStatus;

const MB: u64 = 1 << 20;

fn unit(name: &str, pid: u32, memory: u64, cpu_ns: u64, restarts: u32) -> UnitStatus {
    UnitStatus {
        unit: name.into(),
        active_state: "active".into(),
        sub_state: "running".into(),
        status: "online".into(),
        pid: Some(pid),
        main_pid: Some(pid),
        uptime_ms: Some(3_600_000),
        restarts,
        memory_bytes: Some(memory + MB),
        memory_own_bytes: Some(memory),
        memory_cache_bytes: Some(MB),
        memory_limit_bytes: None,
        cpu_ns: Some(cpu_ns),
        result: "success".into(),
        exit_status: Some(0),
    }
}

fn app(name: &str, units: Vec<UnitStatus>, events: &[Event]) -> AppSample {
    AppSample {
        name: name.into(),
        group: "shop".into(),
        units: units
            .into_iter()
            .map(|status| UnitSample {
                status,
                events: events.to_vec(),
            })
            .collect(),
    }
}

/// Three apps over 40 readings: a steady API, a worker with two instances, and a leak that
/// climbs to its 256 MiB limit, is killed and starts again.
fn monitor() -> Monitor {
    let mut m = Monitor::new("systemd system".into(), Duration::from_secs(1));
    for t in 0..40u64 {
        let leak_mb = (t % 20) * 12 + 20;
        let killed = t == 20;
        let mut leak = unit(
            "leak.service",
            300 + (t / 20) as u32,
            leak_mb * MB,
            t * 90_000_000,
            (t / 20) as u32,
        );
        leak.memory_limit_bytes = Some(256 * MB);
        leak.uptime_ms = Some((t % 20) * 1000);
        let samples = vec![
            app(
                "api",
                vec![unit("api.service", 100, 80 * MB, t * 20_000_000, 0)],
                &[],
            ),
            app(
                "worker",
                (0..2u32)
                    .map(|i| {
                        let name = format!("worker@{i}.service");
                        let cpu = t * (5_000_000 + u64::from(i) * 1_000_000);
                        unit(&name, 200 + i, (40 + u64::from(i) * 2) * MB, cpu, 1 - i)
                    })
                    .collect(),
                &[],
            ),
            app(
                "leak",
                vec![leak],
                if killed { &[Event::OomKill] } else { &[] },
            ),
        ];
        m.push(samples, Duration::from_secs(1));
    }
    m.add_log_lines((1..=8).map(|i| format!("GET /orders/{i} 200 {}ms", i * 3)));
    m.add_log_lines(["err| warning: slow query".to_string()]);
    m.logs_of = Some("api".into());
    m
}

fn screen(m: &Monitor, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| draw(f, m, Theme { color: false }))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let line: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn key(m: &mut Monitor, code: KeyCode) -> Option<Command> {
    m.key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[test]
fn the_list() {
    insta::assert_snapshot!("list", screen(&monitor(), 120, 34));
}

#[test]
fn expanded_instances_and_sorting() {
    let mut m = monitor();
    key(&mut m, KeyCode::Char('s')); // by cpu, highest first
    assert_eq!(m.selected_app(), Some("api"));
    key(&mut m, KeyCode::Char('s')); // by memory
    let order: Vec<&str> = m.visible().iter().map(|&i| m.apps[i].name()).collect();
    assert_eq!(order, ["leak", "worker", "api"]);
    key(&mut m, KeyCode::Home);
    key(&mut m, KeyCode::Down);
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.selected_app(), Some("worker"));
    assert_eq!(m.rows().len(), 5);
    insta::assert_snapshot!("expanded", screen(&m, 120, 34));
}

#[test]
fn the_log_pane_follows_and_hides() {
    let mut m = monitor();
    assert!(screen(&m, 120, 34).contains("warning: slow query"));
    key(&mut m, KeyCode::Char('l'));
    insta::assert_snapshot!("no_logs", screen(&m, 120, 34));
}

#[test]
fn help_and_confirmation() {
    let mut m = monitor();
    key(&mut m, KeyCode::Char('?'));
    insta::assert_snapshot!("help", screen(&m, 120, 34));
    assert_eq!(key(&mut m, KeyCode::Char('x')), None);
    assert_eq!(m.mode, Mode::Normal);
    key(&mut m, KeyCode::Char('r'));
    assert_eq!(m.mode, Mode::Confirm(Action::Restart, "api".into()));
    insta::assert_snapshot!("confirm", screen(&m, 120, 34));
    assert_eq!(
        key(&mut m, KeyCode::Char('y')),
        Some(Command::Control(Action::Restart, "api".into()))
    );
    key(&mut m, KeyCode::Char('x'));
    assert_eq!(key(&mut m, KeyCode::Char('n')), None);
    assert_eq!(m.message.as_deref(), Some("stop of api cancelled"));
}

#[test]
fn a_narrow_terminal_keeps_what_matters() {
    let text = screen(&monitor(), 60, 14);
    insta::assert_snapshot!("narrow", text);
}

#[test]
fn filter_by_name() {
    let mut m = monitor();
    key(&mut m, KeyCode::Char('/'));
    for c in "wor".chars() {
        key(&mut m, KeyCode::Char(c));
    }
    key(&mut m, KeyCode::Enter);
    let shown: Vec<&str> = m.visible().iter().map(|&i| m.apps[i].name()).collect();
    assert_eq!(shown, ["worker"]);
    assert_eq!(m.selected_app(), Some("worker"));
    key(&mut m, KeyCode::Esc);
    assert_eq!(m.visible().len(), 3);
    assert_eq!(key(&mut m, KeyCode::Char('q')), Some(Command::Quit));
}

#[test]
fn cpu_is_measured_over_the_interval() {
    let m = monitor();
    // 20 ms of CPU per 1 s reading.
    let api = m.apps.iter().find(|a| a.name() == "api").unwrap();
    assert_eq!(api.cpu().map(|c| (c * 10.0).round() / 10.0), Some(2.0));
    assert_eq!(cpu_percent(Some(5), None, Duration::from_secs(1)), None);
    let leak = m.apps.iter().find(|a| a.name() == "leak").unwrap();
    assert_eq!(leak.last_event.map(|(e, _)| e), Some(Event::OomKill));
    assert!(leak.limit_share().unwrap() > 0.8);
}
