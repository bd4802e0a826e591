//! Draws a [`Monitor`] into a ratatui frame: a title, one row per app (its units under it when
//! expanded) with a small memory history, the selected app's graph, the log pane, and the help
//! and confirmation pop-ups. Columns a narrow terminal cannot hold are left out, least useful
//! first. Without colour (`NO_COLOR`, or a dumb terminal) states read from their words and the
//! event marks, never from colour alone.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Sparkline, Wrap};

use super::{Action, AppView, Mode, Monitor, Row, unit_share};
use crate::observe::sample::Event;
use crate::observe::status::{UnitStatus, format_bytes, format_duration_ms};

/// Colour or not: with `color` false, every style keeps only its modifiers (bold, reversed).
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    fn status(self, status: &str) -> Style {
        self.fg(match status {
            "online" => Color::Green,
            "errored" => Color::Red,
            "stopped" => Color::DarkGray,
            _ => Color::Yellow,
        })
    }

    fn event(self, e: Event) -> Style {
        let c = match e {
            Event::OomKill | Event::StartLimit => Color::Red,
            Event::Crash => Color::LightRed,
            Event::Backoff => Color::Yellow,
            Event::Restart => Color::Cyan,
        };
        self.fg(c).add_modifier(Modifier::BOLD)
    }

    fn share(self, share: f64) -> Style {
        self.fg(if share >= 0.9 {
            Color::Red
        } else if share >= 0.75 {
            Color::Yellow
        } else {
            Color::Reset
        })
    }
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The columns, in order, with their widths and whether a narrow screen may drop them (lowest
/// `keep` first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Name,
    Status,
    Pid,
    Uptime,
    Restarts,
    Cpu,
    Memory,
    Limit,
    Cache,
    Event,
    History,
}

impl Column {
    const ALL: [Column; 11] = [
        Column::Name,
        Column::Status,
        Column::Pid,
        Column::Uptime,
        Column::Restarts,
        Column::Cpu,
        Column::Memory,
        Column::Limit,
        Column::Cache,
        Column::Event,
        Column::History,
    ];

    fn title(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Status => "status",
            Column::Pid => "pid",
            Column::Uptime => "uptime",
            Column::Restarts => "↺",
            Column::Cpu => "cpu",
            Column::Memory => "memory",
            Column::Limit => "of limit",
            Column::Cache => "cache",
            Column::Event => "last event",
            Column::History => "memory history",
        }
    }

    fn width(self) -> u16 {
        match self {
            Column::Name => 0,
            Column::Status => 15,
            Column::Pid => 7,
            Column::Uptime => 6,
            Column::Restarts => 4,
            Column::Cpu => 6,
            Column::Memory => 8,
            Column::Limit => 15,
            Column::Cache => 8,
            Column::Event => 16,
            Column::History => 12,
        }
    }

    /// Dropped first when the screen is narrow: the lowest.
    fn keep(self) -> u8 {
        match self {
            Column::Name | Column::Status => 10,
            Column::Memory => 9,
            Column::Cpu => 8,
            Column::Event => 7,
            Column::Limit => 6,
            Column::Restarts => 5,
            Column::History => 4,
            Column::Pid => 3,
            Column::Uptime => 2,
            Column::Cache => 1,
        }
    }

    fn right_aligned(self) -> bool {
        matches!(
            self,
            Column::Pid
                | Column::Uptime
                | Column::Restarts
                | Column::Cpu
                | Column::Memory
                | Column::Cache
        )
    }
}

/// Which columns fit in `width`, and the name and history widths.
fn layout_columns(m: &Monitor, width: u16) -> (Vec<Column>, u16, u16) {
    let name_width = m
        .apps
        .iter()
        .flat_map(|a| {
            std::iter::once(a.name().chars().count() + 2).chain(
                a.latest
                    .units
                    .iter()
                    .map(|u| u.status.unit.chars().count() + 4),
            )
        })
        .max()
        .unwrap_or(4)
        .clamp(6, 32) as u16
        + 1;
    let mut columns: Vec<Column> = Column::ALL.to_vec();
    let need = |cols: &[Column]| -> u16 {
        cols.iter()
            .map(|c| if *c == Column::Name { name_width } else { c.width() } + 1)
            .sum()
    };
    while need(&columns) > width && columns.len() > 2 {
        let drop = columns
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| c.keep())
            .map(|(i, _)| i)
            .expect("columns");
        columns.remove(drop);
    }
    let history = if columns.contains(&Column::History) {
        Column::History.width() + width.saturating_sub(need(&columns))
    } else {
        0
    };
    (columns, name_width, history)
}

pub fn draw(frame: &mut Frame, m: &Monitor, theme: Theme) {
    let area = frame.area();
    let rows = m.rows();
    let graph_height = if area.height >= 24 { 5 } else { 0 };
    let logs_height = if m.show_logs && area.height >= 16 {
        (area.height / 3).max(5)
    } else {
        0
    };
    let [title, table, graph, logs, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(graph_height),
        Constraint::Length(logs_height),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_title(frame, m, title, theme);
    draw_table(frame, m, &rows, table, theme);
    if graph_height > 0 {
        draw_graph(frame, m, graph, theme);
    }
    if logs_height > 0 {
        draw_logs(frame, m, logs, theme);
    }
    draw_footer(frame, m, footer, theme);
    match &m.mode {
        Mode::Help => draw_help(frame, area),
        Mode::Confirm(action, app) => draw_confirm(frame, area, *action, app),
        Mode::Normal | Mode::Filter => {}
    }
}

fn draw_title(frame: &mut Frame, m: &Monitor, area: Rect, theme: Theme) {
    let left = format!(
        " rgen monit · {} · {} app{} · every {}",
        m.manager,
        m.apps.len(),
        if m.apps.len() == 1 { "" } else { "s" },
        interval_words(m.interval)
    );
    let arrow = if (m.sort != super::SortKey::Name) != m.descending {
        "↓"
    } else {
        "↑"
    };
    let right = format!("sort: {} {arrow}  ? help  q quit ", m.sort.as_str());
    let room = (area.width as usize).saturating_sub(left.chars().count());
    let right = if right.chars().count() < room {
        format!("{right:>room$}")
    } else {
        String::new()
    };
    let line = Line::from(vec![
        Span::styled(left, Style::new().add_modifier(Modifier::BOLD)),
        Span::styled(right, theme.fg(Color::DarkGray)),
    ]);
    frame.render_widget(
        Paragraph::new(line).style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
    );
}

fn interval_words(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn cell(text: String, width: u16, right: bool) -> String {
    let w = width as usize;
    let text: String = if text.chars().count() > w {
        let mut t: String = text.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        text
    };
    if right {
        format!("{text:>w$}")
    } else {
        format!("{text:<w$}")
    }
}

fn draw_table(frame: &mut Frame, m: &Monitor, rows: &[Row], area: Rect, theme: Theme) {
    let (columns, name_width, history_width) = layout_columns(m, area.width);
    let width_of = |c: Column| match c {
        Column::Name => name_width,
        Column::History => history_width,
        other => other.width(),
    };
    let mut lines = Vec::with_capacity(rows.len() + 1);
    let header: Vec<Span> = columns
        .iter()
        .map(|c| {
            Span::styled(
                cell(c.title().to_string(), width_of(*c), c.right_aligned()) + " ",
                Style::new().add_modifier(Modifier::BOLD),
            )
        })
        .collect();
    lines.push(Line::from(header));
    let body_height = area.height.saturating_sub(1) as usize;
    // Keep the selected row in view.
    let first = m.selected.saturating_sub(body_height.saturating_sub(1));
    for (n, row) in rows.iter().enumerate().skip(first).take(body_height) {
        let mut spans: Vec<Span> = columns
            .iter()
            .flat_map(|c| {
                let mut s = row_cell(m, *row, *c, width_of(*c), theme);
                s.push(Span::raw(" "));
                s
            })
            .collect();
        // The selection reads without colour and in a text capture too.
        if let Some(first) = spans.first_mut() {
            let text = first.content.to_string();
            let marker = if n == m.selected { '›' } else { ' ' };
            first.content = format!(
                "{marker}{}",
                &text[text.char_indices().nth(1).map_or(0, |(i, _)| i)..]
            )
            .into();
        }
        let mut line = Line::from(spans);
        if n == m.selected {
            line = line.style(Style::new().add_modifier(Modifier::REVERSED));
        }
        lines.push(line);
    }
    if rows.is_empty() {
        lines.push(Line::from(if m.filter.is_empty() {
            "  no apps".to_string()
        } else {
            format!("  no app matches “{}”", m.filter)
        }));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".into())
}

fn row_cell(m: &Monitor, row: Row, column: Column, width: u16, theme: Theme) -> Vec<Span<'static>> {
    let right = column.right_aligned();
    let plain = |t: String| vec![Span::raw(cell(t, width, right))];
    match row {
        Row::App(i) => {
            let a = &m.apps[i];
            match column {
                Column::Name => {
                    let fold = if a.latest.units.len() > 1 {
                        if m.expanded.contains(a.name()) {
                            "▾ "
                        } else {
                            "▸ "
                        }
                    } else {
                        "  "
                    };
                    plain(format!(" {fold}{}", a.name()))
                }
                Column::Status => {
                    let status = a.status();
                    vec![Span::styled(
                        cell(status.clone(), width, false),
                        theme.status(&status),
                    )]
                }
                Column::Pid => plain(dash(a.pid().map(|p| p.to_string()))),
                Column::Uptime => plain(dash(a.uptime_ms().map(format_duration_ms))),
                Column::Restarts => plain(a.restarts().to_string()),
                Column::Cpu => plain(dash(a.cpu().map(|c| format!("{c:.1}%")))),
                Column::Memory => plain(dash(a.own_memory().map(format_bytes))),
                Column::Limit => limit_cell(a.limit_share(), a.limit(), width, theme),
                Column::Cache => plain(dash(a.cache().map(format_bytes))),
                Column::Event => event_cell(m, a, width, theme),
                Column::History => history(a, width as usize, theme),
            }
        }
        Row::Unit(i, u) => {
            let a = &m.apps[i];
            let s = &a.latest.units[u].status;
            let cpu = a.unit_cpu.get(u).copied().flatten();
            match column {
                Column::Name => plain(format!("   └ {}", s.unit)),
                Column::Status => vec![Span::styled(
                    cell(s.status.clone(), width, false),
                    theme.status(&s.status),
                )],
                Column::Pid => plain(dash(s.pid.map(|p| p.to_string()))),
                Column::Uptime => plain(dash(s.uptime_ms.map(format_duration_ms))),
                Column::Restarts => plain(s.restarts.to_string()),
                Column::Cpu => plain(dash(cpu.map(|c| format!("{c:.1}%")))),
                Column::Memory => plain(dash(
                    s.memory_own_bytes.or(s.memory_bytes).map(format_bytes),
                )),
                Column::Limit => limit_cell(unit_share(s), s.memory_limit_bytes, width, theme),
                Column::Cache => plain(dash(s.memory_cache_bytes.map(format_bytes))),
                Column::Event => plain(unit_result(s)),
                Column::History => plain(String::new()),
            }
        }
    }
}

/// A unit's last result, when it is worth a word.
fn unit_result(s: &UnitStatus) -> String {
    match s.result.as_str() {
        "" | "success" => String::new(),
        r => r.to_string(),
    }
}

fn limit_cell(
    share: Option<f64>,
    limit: Option<u64>,
    width: u16,
    theme: Theme,
) -> Vec<Span<'static>> {
    match (share, limit) {
        (Some(s), Some(l)) => vec![Span::styled(
            cell(
                format!("{:>3.0}% of {}", s * 100.0, format_bytes(l)),
                width,
                false,
            ),
            theme.share(s),
        )],
        (None, Some(l)) => vec![Span::raw(cell(
            format!("   - of {}", format_bytes(l)),
            width,
            false,
        ))],
        _ => vec![Span::raw(cell("-".into(), width, false))],
    }
}

fn event_cell(m: &Monitor, a: &AppView, width: u16, theme: Theme) -> Vec<Span<'static>> {
    match a.last_event {
        Some((e, tick)) => {
            let count = if a.event_count > 1 {
                format!(" ×{}", a.event_count)
            } else {
                String::new()
            };
            vec![Span::styled(
                cell(
                    format!("{}{count} {}", e.as_str(), m.ago(tick)),
                    width,
                    false,
                ),
                theme.event(e),
            )]
        }
        None => vec![Span::raw(cell(String::new(), width, false))],
    }
}

/// The range a history is drawn over: from 0 to the app's limit, so a leak climbs toward the
/// top; without a limit, around the readings shown, so a slope shows however small.
fn scale(values: &[u64], limit: Option<u64>) -> (u64, u64) {
    let max = values.iter().copied().max().unwrap_or(0);
    match limit {
        Some(l) => (0, l.max(max).max(1)),
        None => {
            let min = values.iter().copied().min().unwrap_or(0);
            let room = ((max - min) / 4).max(max / 20).max(1);
            (min.saturating_sub(room), max + room)
        }
    }
}

fn level(v: u64, (low, high): (u64, u64)) -> f64 {
    (v.saturating_sub(low) as f64 / (high - low).max(1) as f64).clamp(0.0, 1.0)
}

/// The last `width` readings of the app's memory as bars, events marked where they happened.
fn history(a: &AppView, width: usize, theme: Theme) -> Vec<Span<'static>> {
    let start = a.memory.len().saturating_sub(width);
    let values: Vec<u64> = a.memory.iter().skip(start).copied().collect();
    let marks: Vec<Option<Event>> = a.marks.iter().skip(start).copied().collect();
    let range = scale(&values, a.limit());
    let mut spans = vec![Span::raw(" ".repeat(width - values.len()))];
    for (v, mark) in values.iter().zip(marks) {
        match mark {
            Some(e) => spans.push(Span::styled(e.mark().to_string(), theme.event(e))),
            None => {
                let l = level(*v, range);
                let style = if a.limit().is_some() {
                    theme.share(l)
                } else {
                    Style::new()
                };
                spans.push(Span::styled(
                    BARS[(l * 7.0).round() as usize].to_string(),
                    style,
                ));
            }
        }
    }
    spans
}

fn draw_graph(frame: &mut Frame, m: &Monitor, area: Rect, theme: Theme) {
    let Some(app) = m
        .selected_app()
        .and_then(|name| m.apps.iter().find(|a| a.name() == name))
    else {
        return;
    };
    let inner_width = area.width.saturating_sub(2) as usize;
    let start = app.memory.len().saturating_sub(inner_width);
    let data: Vec<u64> = app.memory.iter().skip(start).copied().collect();
    let span_ms = data.len() as u64 * m.interval.as_millis() as u64;
    let limit = match (app.limit(), app.limit_share()) {
        (Some(l), Some(s)) => format!(" · {:.0}% of {}", s * 100.0, format_bytes(l)),
        (Some(l), None) => format!(" · limit {}", format_bytes(l)),
        _ => String::new(),
    };
    let marks: String = app
        .marks
        .iter()
        .skip(start)
        .filter_map(|e| *e)
        .map(|e| e.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(", ");
    let title = format!(
        " {} memory: {}{limit} · last {}{} ",
        app.name(),
        dash(app.own_memory().map(format_bytes)),
        format_duration_ms(span_ms),
        if marks.is_empty() {
            String::new()
        } else {
            format!(" · {marks}")
        }
    );
    let (low, high) = scale(&data, app.limit());
    let lifted: Vec<u64> = data.iter().map(|v| v.saturating_sub(low)).collect();
    let graph = Sparkline::default()
        .block(Block::default().borders(Borders::TOP).title(title))
        .data(&lifted)
        .max((high - low).max(1))
        .style(theme.fg(Color::Cyan));
    frame.render_widget(graph, area);
}

fn draw_logs(frame: &mut Frame, m: &Monitor, area: Rect, theme: Theme) {
    let title = match &m.logs_of {
        Some(app) => format!(" logs: {app} "),
        None => " logs ".to_string(),
    };
    let height = area.height.saturating_sub(1) as usize;
    let start = m.logs.len().saturating_sub(height);
    let lines: Vec<Line> = m
        .logs
        .iter()
        .skip(start)
        .map(|l| match l.strip_prefix("err| ") {
            Some(rest) => Line::from(Span::styled(rest.to_string(), theme.fg(Color::Red))),
            None => Line::from(l.clone()),
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::TOP).title(title)),
        area,
    );
}

fn draw_footer(frame: &mut Frame, m: &Monitor, area: Rect, theme: Theme) {
    let text = match &m.mode {
        Mode::Filter => format!(" filter: {}▏ (Enter to keep, Esc to close)", m.filter),
        _ => match (&m.message, m.filter.is_empty()) {
            (Some(msg), _) => format!(" {msg}"),
            (None, false) => format!(" filter: “{}” (Esc clears)", m.filter),
            (None, true) => {
                " ↑↓ select  ⏎ instances  r restart  R reload  x stop  s sort  / filter  l logs"
                    .to_string()
            }
        },
    };
    frame.render_widget(Paragraph::new(text).style(theme.fg(Color::DarkGray)), area);
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "select an app"),
    ("PgUp PgDn  g G", "page, first, last"),
    ("⏎  space  → ←", "show or hide its instances"),
    ("r", "restart the selected app (asks first)"),
    ("R", "reload: one instance at a time"),
    ("x", "stop it"),
    ("s", "sort by name, cpu, memory, restarts, uptime"),
    ("i", "invert the order"),
    ("/", "filter by name (Esc clears)"),
    ("l", "show or hide the log pane"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
    ("", ""),
    ("marks", "M oom-kill  L start limit  C crash"),
    ("", "B waiting to restart  R restarted"),
];

fn draw_help(frame: &mut Frame, area: Rect) {
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, v)| Line::from(format!(" {k:<16} {v}")))
        .collect();
    let popup = centered(area, 68, HELP.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" keys (any key closes) ")),
        popup,
    );
}

fn draw_confirm(frame: &mut Frame, area: Rect, action: Action, app: &str) {
    let text = format!(
        " {} {app}? y to confirm, any other key cancels",
        action.as_str()
    );
    let popup = centered(area, text.chars().count() as u16 + 3, 3);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).block(Block::bordered().title(" confirm ")),
        popup,
    );
}
