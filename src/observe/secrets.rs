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
];

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
    });
    named || url_with_credentials(value)
}

/// `scheme://user:password@host…`
fn url_with_credentials(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
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
        ] {
            assert!(looks_secret(n, v), "{n}");
        }
        for (n, v) in [
            ("NODE_ENV", "production"),
            ("PORT", "3000"),
            ("DATABASE_URL", "postgres://h/db"),
            ("HOME_URL", "https://example.com/a@b"),
        ] {
            assert!(!looks_secret(n, v), "{n}");
        }
    }
}
