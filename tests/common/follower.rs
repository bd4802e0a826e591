//! A long-running command (`rgen logs --follow`) whose output is read line by line as it comes;
//! killed and reaped when dropped, however the test ends. Shared by the test crates.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

pub struct Follower {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Follower {
    pub fn spawn(cmd: &mut Command) -> Result<Follower, String> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Follower {
            child,
            lines,
            seen: Vec::new(),
        })
    }

    /// Waits for a line containing `needle` (seen before or arriving before the deadline);
    /// returns every line read so far, in order.
    pub fn wait_for(&mut self, needle: &str, within: Duration) -> Result<&[String], String> {
        let deadline = Instant::now() + within;
        while !self.seen.iter().any(|l| l.contains(needle)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => {
                    return Err(format!(
                        "`{needle}` never appeared in the followed output:\n{}",
                        self.seen.join("\n")
                    ));
                }
            }
        }
        Ok(&self.seen)
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
