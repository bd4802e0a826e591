//! `rgen monit`'s screen, as data: what the readings add up to (each app's history, CPU over the
//! last interval, the events the manager reported), which rows are shown in which order, and
//! what a key does. Pure — no terminal, no manager — so every screen state is built in tests
//! and drawn into ratatui's `TestBackend` (`render.rs`); `commands/monit.rs` owns the terminal
//! and carries out what [`Monitor::key`] asks for.

pub mod render;

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::sample::{AppSample, Event};

/// Readings kept per app: ten minutes at one a second, enough to see a leak's slope.
pub const HISTORY: usize = 600;
/// Log lines kept for the pane.
pub const LOG_LINES: usize = 500;

/// An app as the screen knows it: its latest reading and its history.
#[derive(Clone, Debug)]
pub struct AppView {
    pub latest: AppSample,
    /// CPU over the last interval, % of one core, per unit (none before a second reading).
    pub unit_cpu: Vec<Option<f64>>,
    /// The app's own memory (or all of it, where the manager does not tell them apart) at each
    /// reading, oldest first.
    pub memory: VecDeque<u64>,
    /// The worst event of each reading, aligned with `memory`.
    pub marks: VecDeque<Option<Event>>,
    /// The latest event and the reading it came with.
    pub last_event: Option<(Event, u64)>,
    pub event_count: u32,
    previous_cpu: Vec<Option<u64>>,
}

impl AppView {
    fn new(sample: AppSample) -> AppView {
        let n = sample.units.len();
        AppView {
            latest: sample,
            unit_cpu: vec![None; n],
            memory: VecDeque::new(),
            marks: VecDeque::new(),
            last_event: None,
            event_count: 0,
            previous_cpu: vec![None; n],
        }
    }

    pub fn name(&self) -> &str {
        &self.latest.name
    }

    pub fn status(&self) -> String {
        let units: Vec<_> = self.latest.units.iter().map(|u| u.status.clone()).collect();
        super::status::aggregate_status(&units)
    }

    pub fn cpu(&self) -> Option<f64> {
        self.unit_cpu.iter().flatten().copied().reduce(|a, b| a + b)
    }

    pub fn own_memory(&self) -> Option<u64> {
        self.latest
            .units
            .iter()
            .filter_map(|u| u.status.memory_own_bytes.or(u.status.memory_bytes))
            .reduce(|a, b| a + b)
    }

    pub fn cache(&self) -> Option<u64> {
        self.latest
            .units
            .iter()
            .filter_map(|u| u.status.memory_cache_bytes)
            .reduce(|a, b| a + b)
    }

    /// The fullest instance's memory as a share of its limit: the kernel kills per unit.
    pub fn limit_share(&self) -> Option<f64> {
        self.latest
            .units
            .iter()
            .filter_map(|u| unit_share(&u.status))
            .reduce(f64::max)
    }

    pub fn limit(&self) -> Option<u64> {
        self.latest
            .units
            .iter()
            .find_map(|u| u.status.memory_limit_bytes)
    }

    pub fn restarts(&self) -> u32 {
        self.latest.units.iter().map(|u| u.status.restarts).sum()
    }

    pub fn pid(&self) -> Option<u32> {
        self.latest.units.iter().find_map(|u| u.status.pid)
    }

    pub fn uptime_ms(&self) -> Option<u64> {
        self.latest
            .units
            .iter()
            .filter_map(|u| u.status.uptime_ms)
            .min()
    }

    fn push(&mut self, sample: AppSample, tick: u64, elapsed: Duration) {
        let n = sample.units.len();
        self.previous_cpu.resize(n, None);
        self.unit_cpu = sample
            .units
            .iter()
            .zip(&self.previous_cpu)
            .map(|(u, before)| cpu_percent(*before, u.status.cpu_ns, elapsed))
            .collect();
        self.previous_cpu = sample.units.iter().map(|u| u.status.cpu_ns).collect();
        let worst = sample
            .units
            .iter()
            .flat_map(|u| u.events.iter().copied())
            .max_by_key(|e| e.severity());
        let count = sample.units.iter().map(|u| u.events.len()).sum::<usize>() as u32;
        self.latest = sample;
        if let Some(e) = worst {
            self.last_event = Some((e, tick));
            self.event_count += count;
        }
        self.memory.push_back(self.own_memory().unwrap_or(0));
        self.marks.push_back(worst);
        while self.memory.len() > HISTORY {
            self.memory.pop_front();
            self.marks.pop_front();
        }
    }
}

pub fn unit_share(u: &super::status::UnitStatus) -> Option<f64> {
    let limit = u.memory_limit_bytes.filter(|&l| l > 0)?;
    Some(u.memory_bytes? as f64 / limit as f64)
}

/// CPU over an interval from two cumulative counters, in % of one core.
pub fn cpu_percent(before: Option<u64>, now: Option<u64>, elapsed: Duration) -> Option<f64> {
    let (before, now) = (before?, now?);
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return None;
    }
    Some(now.saturating_sub(before) as f64 / 1e9 / secs * 100.0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Cpu,
    Memory,
    Restarts,
    Uptime,
}

impl SortKey {
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Cpu => "cpu",
            SortKey::Memory => "memory",
            SortKey::Restarts => "restarts",
            SortKey::Uptime => "uptime",
        }
    }

    fn next(self) -> SortKey {
        match self {
            SortKey::Name => SortKey::Cpu,
            SortKey::Cpu => SortKey::Memory,
            SortKey::Memory => SortKey::Restarts,
            SortKey::Restarts => SortKey::Uptime,
            SortKey::Uptime => SortKey::Name,
        }
    }
}

/// What the selected app can be asked to do from the screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Restart,
    Reload,
    Stop,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Restart => "restart",
            Action::Reload => "reload",
            Action::Stop => "stop",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    /// Typing a filter after `/`.
    Filter,
    /// Waiting for `y` to carry out an action on an app.
    Confirm(Action, String),
}

/// What the caller must do after a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Quit,
    Control(Action, String),
}

/// The whole screen's state.
pub struct Monitor {
    /// `systemd, system scope` — shown in the title.
    pub manager: String,
    pub interval: Duration,
    pub apps: Vec<AppView>,
    pub tick: u64,
    pub sort: SortKey,
    pub descending: bool,
    pub filter: String,
    /// Index into [`Monitor::rows`] of the selected row.
    pub selected: usize,
    pub expanded: BTreeSet<String>,
    pub mode: Mode,
    pub message: Option<String>,
    pub show_logs: bool,
    pub logs: VecDeque<String>,
    /// Whose log the pane follows.
    pub logs_of: Option<String>,
}

/// One line of the table: an app, or one of its units under it when expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    App(usize),
    Unit(usize, usize),
}

impl Monitor {
    pub fn new(manager: String, interval: Duration) -> Monitor {
        Monitor {
            manager,
            interval,
            apps: Vec::new(),
            tick: 0,
            sort: SortKey::Name,
            descending: false,
            filter: String::new(),
            selected: 0,
            expanded: BTreeSet::new(),
            mode: Mode::Normal,
            message: None,
            show_logs: true,
            logs: VecDeque::new(),
            logs_of: None,
        }
    }

    /// Takes in a reading, `elapsed` after the previous one.
    pub fn push(&mut self, samples: Vec<AppSample>, elapsed: Duration) {
        let selected = self.selected_app().map(str::to_string);
        self.tick += 1;
        for sample in samples {
            match self.apps.iter_mut().find(|a| a.latest.name == sample.name) {
                Some(view) => view.push(sample, self.tick, elapsed),
                None => {
                    let mut view = AppView::new(sample.clone());
                    view.push(sample, self.tick, elapsed);
                    self.apps.push(view);
                }
            }
        }
        self.keep_selection(selected.as_deref());
    }

    pub fn add_log_lines(&mut self, lines: impl IntoIterator<Item = String>) {
        for l in lines {
            self.logs.push_back(l);
        }
        while self.logs.len() > LOG_LINES {
            self.logs.pop_front();
        }
    }

    /// Apps shown, in order: filtered by name, sorted by the chosen column.
    pub fn visible(&self) -> Vec<usize> {
        let filter = self.filter.to_lowercase();
        let mut shown: Vec<usize> = (0..self.apps.len())
            .filter(|&i| filter.is_empty() || self.apps[i].name().to_lowercase().contains(&filter))
            .collect();
        let key = |i: &usize| -> (i64, String) {
            let a = &self.apps[*i];
            let n = match self.sort {
                SortKey::Name => 0,
                SortKey::Cpu => (a.cpu().unwrap_or(-1.0) * 1000.0) as i64,
                SortKey::Memory => a.own_memory().map_or(-1, |m| m as i64),
                SortKey::Restarts => i64::from(a.restarts()),
                SortKey::Uptime => a.uptime_ms().map_or(-1, |u| u as i64),
            };
            (n, a.name().to_string())
        };
        shown.sort_by_key(key);
        // Numbers read best largest first; names A to Z.
        let numeric = self.sort != SortKey::Name;
        if numeric != self.descending {
            shown.reverse();
        }
        shown
    }

    pub fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for i in self.visible() {
            rows.push(Row::App(i));
            let app = &self.apps[i];
            if self.expanded.contains(app.name()) {
                rows.extend((0..app.latest.units.len()).map(|u| Row::Unit(i, u)));
            }
        }
        rows
    }

    pub fn selected_app(&self) -> Option<&str> {
        match self.rows().get(self.selected)? {
            Row::App(i) | Row::Unit(i, _) => Some(self.apps[*i].name()),
        }
    }

    fn keep_selection(&mut self, app: Option<&str>) {
        let rows = self.rows();
        if let Some(name) = app
            && let Some(pos) = rows
                .iter()
                .position(|r| matches!(r, Row::App(i) if self.apps[*i].name() == name))
            && !matches!(rows.get(self.selected), Some(Row::Unit(i, _)) if self.apps[*i].name() == name)
        {
            self.selected = pos;
        }
        self.selected = self.selected.min(rows.len().saturating_sub(1));
    }

    /// Reacts to a key; what needs the terminal or the manager is returned for the caller.
    pub fn key(&mut self, key: KeyEvent) -> Option<Command> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            return Some(Command::Quit);
        }
        match self.mode.clone() {
            Mode::Help => {
                if key.code == KeyCode::Char('q') {
                    return Some(Command::Quit);
                }
                self.mode = Mode::Normal;
                None
            }
            Mode::Confirm(action, app) => {
                self.mode = Mode::Normal;
                if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                    self.message = Some(format!("{}ing {app}…", action.as_str()));
                    return Some(Command::Control(action, app));
                }
                self.message = Some(format!("{} of {app} cancelled", action.as_str()));
                None
            }
            Mode::Filter => {
                let selected = self.selected_app().map(str::to_string);
                match key.code {
                    KeyCode::Enter | KeyCode::Esc => self.mode = Mode::Normal,
                    KeyCode::Backspace => {
                        self.filter.pop();
                    }
                    KeyCode::Char(c) if !ctrl => self.filter.push(c),
                    _ => {}
                }
                self.keep_selection(selected.as_deref());
                None
            }
            Mode::Normal => self.normal_key(key),
        }
    }

    fn normal_key(&mut self, key: KeyEvent) -> Option<Command> {
        let rows = self.rows().len();
        let selected = self.selected_app().map(str::to_string);
        match key.code {
            KeyCode::Char('q') => return Some(Command::Quit),
            KeyCode::Esc => {
                self.filter.clear();
                self.keep_selection(selected.as_deref());
            }
            KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => self.mode = Mode::Help,
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(rows.saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::PageDown => self.selected = (self.selected + 10).min(rows.saturating_sub(1)),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = rows.saturating_sub(1),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char(' ') | KeyCode::Left => {
                if let Some(name) = selected.clone() {
                    let open = key.code != KeyCode::Left && !self.expanded.contains(&name);
                    if open {
                        self.expanded.insert(name.clone());
                    } else {
                        self.expanded.remove(&name);
                    }
                    self.keep_selection(Some(&name));
                }
            }
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.keep_selection(selected.as_deref());
            }
            KeyCode::Char('i') => {
                self.descending = !self.descending;
                self.keep_selection(selected.as_deref());
            }
            KeyCode::Char('/') => self.mode = Mode::Filter,
            KeyCode::Char('l') => self.show_logs = !self.show_logs,
            KeyCode::Char('r') | KeyCode::Char('R') | KeyCode::Char('x') => {
                let action = match key.code {
                    KeyCode::Char('r') => Action::Restart,
                    KeyCode::Char('R') => Action::Reload,
                    _ => Action::Stop,
                };
                if let Some(app) = selected {
                    self.mode = Mode::Confirm(action, app);
                }
            }
            _ => {}
        }
        None
    }

    /// How long ago a reading was, in words.
    pub fn ago(&self, tick: u64) -> String {
        let ms = (self.tick.saturating_sub(tick)) * self.interval.as_millis() as u64;
        super::status::format_duration_ms(ms)
    }
}

#[cfg(test)]
pub(crate) mod tests;
