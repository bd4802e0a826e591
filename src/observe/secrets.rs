//! Which environment values `rgen show` keeps off the screen unless asked: names that say they
//! hold a secret, and URLs that carry credentials.

/// Words in a variable's name that mark its value as a secret.
const SECRET_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASS",
    "SECRET",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "PRIVATE",
    "AUTH",
    "COOKIE",
    "SESSION",
    "SIGNATURE",
    "SALT",
    "JWT",
    "DSN",
];

/// Words that mark a secret only as the whole word (`SMTP_PWD`, `GITHUB_PAT`): inside others
/// they are common (`PWD` is the shell's directory, `PATH` starts with `PAT`).
const SECRET_SUFFIXES: &[&str] = &["PWD", "PAT", "PASSPHRASE", "APIKEY"];

pub fn looks_secret(name: &str, value: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let named = words.iter().any(|w| {
        SECRET_WORDS
            .iter()
            .any(|s| w == s || w.ends_with(s) || w.starts_with(s))
    }) || (words.len() > 1 && words[1..].iter().any(|w| SECRET_SUFFIXES.contains(w)));
    named || url_with_credentials(value)
}

/// `scheme://user:password@host…`, and `scheme://token@host…` (a token as the user name, as
/// Sentry's DSNs and GitHub's `https://TOKEN@github.com` carry one).
fn url_with_credentials(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| !userinfo.is_empty())
}

/// The value as `rgen show` prints it.
pub fn shown(name: &str, value: &str, reveal: bool) -> String {
    if !reveal && looks_secret(name, value) {
        "<hidden: `rgen show --show-secrets` prints it>".into()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognised() {
        for (n, v) in [
            ("DB_PASSWORD", "x"),
            ("API_TOKEN", "x"),
            ("STRIPE_SECRET_KEY", "x"),
            ("AWS_ACCESS_KEY_ID", "x"),
            ("DATABASE_URL", "postgres://u:pw@h/db"),
            ("spring.datasource.password", "x"),
            ("NGROK_AUTHTOKEN", "x"),
            ("SMTP_PWD", "x"),
            ("GITHUB_PAT", "x"),
            ("JWT", "x"),
            ("SENTRY_DSN", "https://abc@o1.ingest.sentry.io/1"),
            ("REPO", "https://ghp_abc@github.com/o/r.git"),
        ] {
            assert!(looks_secret(n, v), "{n}");
        }
        for (n, v) in [
            ("NODE_ENV", "production"),
            ("PORT", "3000"),
            ("DATABASE_URL", "postgres://h/db"),
            ("HOME_URL", "https://example.com/a@b"),
            ("PWD", "/srv/app"),
            ("PATH", "/usr/bin"),
            ("OLDPWD", "/srv"),
        ] {
            assert!(!looks_secret(n, v), "{n}");
        }
    }
}
