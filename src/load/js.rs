//! JavaScript ecosystem files are programs: PM2 `require()`s them. rgen does the same with the
//! user's own `node` and reads back the exported value as JSON.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::diag::{BadInput, Origin};

/// How long a config file may take to evaluate. Ecosystem files normally take milliseconds; one that
/// starts a server by mistake must not hang rgen.
const EVAL_TIMEOUT: Duration = Duration::from_secs(20);

/// Loads the module the way PM2 does (`require`, falling back to `import()` for ES modules) and
/// prints its export as JSON. Values JSON cannot hold become strings (BigInt, RegExp) or vanish
/// (functions, undefined), as they would in PM2's own serialisation of the app list.
const MODULE_LOADER: &str = r#"
const path = require('path');
const file = path.resolve(process.argv[1]);
function replacer(_k, v) {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof RegExp) return v.toString();
  return v;
}
(async () => {
  let mod;
  try {
    mod = require(file);
  } catch (e) {
    if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
      mod = await import(require('url').pathToFileURL(file).href);
    } else {
      throw e;
    }
  }
  if (mod && typeof mod === 'object' && 'default' in mod && !('apps' in mod) && (mod.__esModule || Object.prototype.toString.call(mod) === '[object Module]')) {
    mod = mod.default;
  }
  if (mod && typeof mod.then === 'function') mod = await mod;
  const out = JSON.stringify(mod === undefined ? null : mod, replacer);
  process.stdout.write(out, () => process.exit(0));
})().catch((e) => {
  process.stderr.write(String((e && e.stack) || e));
  process.exit(3);
});
"#;

/// PM2 reads `.json` files with `vm.runInThisContext('(' + text + ')')`.
const EXPRESSION_LOADER: &str = r#"
const vm = require('vm');
let text = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { text += c; });
process.stdin.on('end', () => {
  try {
    const v = vm.runInThisContext('(' + text + ')', { filename: process.argv[1], timeout: 1000 });
    process.stdout.write(JSON.stringify(v), () => process.exit(0));
  } catch (e) {
    process.stderr.write(String((e && e.stack) || e));
    process.exit(3);
  }
});
"#;

pub fn node_binary() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("RGEN_NODE") {
        return Some(PathBuf::from(explicit));
    }
    which::which("node").ok()
}

pub fn evaluate_module(file: &Path) -> Result<Value, BadInput> {
    let origin = Origin::file(file);
    let node = node_binary().ok_or_else(|| {
        BadInput::single(
            origin.clone(),
            "cannot evaluate a JavaScript ecosystem file: `node` is not on PATH",
            Some("install Node.js (PM2 needs it too), set RGEN_NODE=/path/to/node, or convert the file once with `rgen import` on a machine with node".into()),
        )
    })?;
    let dir = file.parent().unwrap_or(Path::new("/"));
    let mut cmd = Command::new(&node);
    // The config sees the same working directory PM2 users run `pm2 start` from: the file's own.
    cmd.current_dir(dir).arg("-e").arg(MODULE_LOADER).arg(file);
    run_node(cmd, None, &origin, &node)
}

pub fn evaluate_expression(file: &Path, text: &str) -> Result<Value, BadInput> {
    let origin = Origin::file(file);
    let node = node_binary()
        .ok_or_else(|| BadInput::single(origin.clone(), "node is not available", None))?;
    let mut cmd = Command::new(&node);
    cmd.current_dir(file.parent().unwrap_or(Path::new("/")))
        .arg("-e")
        .arg(EXPRESSION_LOADER)
        .arg(file);
    run_node(cmd, Some(text), &origin, &node)
}

fn run_node(
    mut cmd: Command,
    stdin: Option<&str>,
    origin: &Origin,
    node: &Path,
) -> Result<Value, BadInput> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        BadInput::single(
            origin.clone(),
            format!("cannot run `{}`: {e}", node.display()),
            Some("check that node is installed and executable, or set RGEN_NODE".into()),
        )
    })?;
    if let Some(text) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin was piped");
        let text = text.to_string();
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let mut stdout = child.stdout.take().expect("stdout was piped");
    let mut stderr = child.stderr.take().expect("stderr was piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = String::new();
        let _ = stderr.read_to_string(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > EVAL_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(BadInput::single(
                    origin.clone(),
                    format!("node did not finish evaluating the file within {} s", EVAL_TIMEOUT.as_secs()),
                    Some("an ecosystem file should only export its config; does it start a server or wait for input?".into()),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(BadInput::single(
                    origin.clone(),
                    format!("waiting for node failed: {e}"),
                    None,
                ));
            }
        }
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        let first = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("(no message)");
        let at = err
            .lines()
            .find(|l| {
                l.trim_start().starts_with("at ") && l.contains(&*origin.file.to_string_lossy())
            })
            .map(|l| l.trim().trim_start_matches("at ").to_string());
        return Err(BadInput::single(
            origin.clone(),
            format!("the file threw while node evaluated it: {}", first.trim()),
            Some(match at {
                Some(at) => format!("thrown at {at}"),
                None => "run `node <file>` to see the full error".to_string(),
            }),
        ));
    }
    serde_json::from_slice(&out).map_err(|e| {
        BadInput::single(
            origin.clone(),
            format!("node printed something that is not JSON: {e}"),
            None,
        )
    })
}
