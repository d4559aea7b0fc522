//! Which CONNECT hosts are decrypted: `--intercept GLOB` and `--passthrough GLOB`.
//!
//! Without `--intercept`, every host is intercepted except those matching a
//! `--passthrough` glob. With `--intercept`, only matching hosts are intercepted; the
//! rest are tunnelled untouched (and recorded as tunnels). When a host matches globs of
//! both lists, the more specific glob wins: the one with more literal characters (every
//! character except `*` and `?`), so an exact host name beats `*.example.com`, which
//! beats `*.com`. On a tie, passthrough wins: a client that pins its certificates keeps
//! working.

/// What to do with a CONNECT to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Decrypt it with a minted leaf.
    Intercept,
    /// Tunnel it untouched, for this reason (recorded in the tunnel's record).
    Tunnel(&'static str),
}

/// How specific a glob is: its count of literal characters.
pub(crate) fn specificity(glob: &str) -> usize {
    glob.chars().filter(|c| *c != '*' && *c != '?').count()
}

fn best(globs: &[String], host: &str) -> Option<usize> {
    globs
        .iter()
        .filter(|g| glob_match(g, host))
        .map(|g| specificity(g))
        .max()
}

/// Decides for `host` given the `--intercept` and `--passthrough` globs.
pub(crate) fn decide(intercept: &[String], passthrough: &[String], host: &str) -> Decision {
    let pass = best(passthrough, host);
    if intercept.is_empty() {
        return match pass {
            Some(_) => Decision::Tunnel("passthrough host"),
            None => Decision::Intercept,
        };
    }
    match (best(intercept, host), pass) {
        (None, _) => Decision::Tunnel("not in --intercept"),
        (Some(i), Some(p)) if p >= i => Decision::Tunnel("passthrough host"),
        (Some(_), _) => Decision::Intercept,
    }
}

/// Whether `host` matches a glob with `*` (any run) and `?` (one character),
/// case-insensitively.
pub(crate) fn glob_match(pattern: &str, host: &str) -> bool {
    fn rec(p: &[u8], h: &[u8]) -> bool {
        match p.split_first() {
            None => h.is_empty(),
            Some((b'*', rest)) => (0..=h.len()).any(|i| rec(rest, &h[i..])),
            Some((b'?', rest)) => !h.is_empty() && rec(rest, &h[1..]),
            Some((c, rest)) => {
                h.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && rec(rest, &h[1..])
            }
        }
    }
    rec(pattern.as_bytes(), host.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[&str]) -> Vec<String> {
        x.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.example.com", "a.b.EXAMPLE.com"));
        assert!(!glob_match("*.example.com", "example.org"));
        assert!(glob_match("login.?icrosoft.com", "login.microsoft.com"));
        assert!(glob_match("*", "anything"));
    }

    #[test]
    fn without_intercept_everything_but_passthrough_is_decrypted() {
        assert_eq!(
            decide(&[], &v(&["*.live.com"]), "a.example.com"),
            Decision::Intercept
        );
        assert_eq!(
            decide(&[], &v(&["*.live.com"]), "login.live.com"),
            Decision::Tunnel("passthrough host")
        );
    }

    #[test]
    fn intercept_limits_decryption() {
        let i = v(&["*.sharepoint.com"]);
        assert_eq!(
            decide(&i, &[], "contoso.sharepoint.com"),
            Decision::Intercept
        );
        assert_eq!(
            decide(&i, &[], "login.microsoftonline.com"),
            Decision::Tunnel("not in --intercept")
        );
    }

    #[test]
    fn the_more_specific_glob_wins_and_ties_pass_through() {
        let i = v(&["*.sharepoint.com", "exact.example.com"]);
        let p = v(&["*-my.sharepoint.com", "*.example.com"]);
        // *-my.sharepoint.com (18 literals) beats *.sharepoint.com (15).
        assert_eq!(
            decide(&i, &p, "contoso-my.sharepoint.com"),
            Decision::Tunnel("passthrough host")
        );
        assert_eq!(
            decide(&i, &p, "contoso.sharepoint.com"),
            Decision::Intercept
        );
        // An exact name beats a wildcard.
        assert_eq!(decide(&i, &p, "exact.example.com"), Decision::Intercept);
        // A tie passes through.
        assert_eq!(
            decide(&v(&["*.a.com"]), &v(&["x.*.com"]), "x.a.com"),
            Decision::Tunnel("passthrough host")
        );
    }
}
