//! `$(VAR)` references in env values, command and args, with upstream's rules
//! (third_party/forked/golang/expansion): `$$` is an escaped `$`; `$(NAME)` becomes NAME's
//! value when defined and stays as written otherwise; an unterminated `$(` or a `$` followed by
//! anything else is kept literally.

/// Expand `s` with `lookup` resolving variable names.
pub fn expand(s: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            out.push('$');
            rest = a;
        } else if let Some(end) = after.strip_prefix('(').and_then(|a| a.find(')')) {
            let name = &after[1..=end];
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &after[end + 2..];
        } else {
            // `$x`, `$(` without `)`, or a trailing `$`: literal.
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Lookup in an ordered env list; a later definition wins.
pub fn in_env(env: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![("A".into(), "1".into()), ("B".into(), "two".into()), ("A".into(), "3".into()), ("EMPTY".into(), String::new())]
    }

    #[test]
    fn upstream_expansion_rules() {
        let e = env();
        let x = |s: &str| expand(s, in_env(&e));
        assert_eq!(x("$(A)-$(B)"), "3-two");
        assert_eq!(x("$(NOPE)"), "$(NOPE)");
        assert_eq!(x("$$(A)"), "$(A)");
        assert_eq!(x("$$$(A)"), "$3");
        assert_eq!(x("$$$$"), "$$");
        assert_eq!(x("a$"), "a$");
        assert_eq!(x("$A $(B"), "$A $(B");
        assert_eq!(x("$()"), "$()");
        assert_eq!(x("x$(EMPTY)y"), "xy");
        assert_eq!(x("no refs"), "no refs");
        assert_eq!(x("$(A)$(A)"), "33");
    }
}
