//! Parsing the `MEMALLOC_*` variables: pure functions over bytes, so they
//! are unit-tested without touching the process environment. A bad value
//! produces one warning line and leaves the setting unset (its default, or
//! the code's value), never an abort.
//!
//! | variable                    | accepted values                                    |
//! |-----------------------------|----------------------------------------------------|
//! | `MEMALLOC_SHOW_STATS`       | `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`     |
//! | `MEMALLOC_VERBOSE`          | same                                               |
//! | `MEMALLOC_BACKGROUND_PURGE` | same                                               |
//! | `MEMALLOC_PURGE_DELAY_MS`   | decimal milliseconds, 0 to `MAX_PURGE_DELAY_MS`     |
//! | `MEMALLOC_DIRTY_MIN_BYTES`  | decimal bytes, optional `K`/`M`/`G` (×1024ⁿ, `KiB`…) |
//! | `MEMALLOC_DIRTY_FRACTION`   | `1/N` with N ≥ 1                                    |
//!
//! An empty value counts as unset. Surrounding spaces are ignored; case is
//! ignored in words and suffixes.

use super::MAX_PURGE_DELAY_MS;
use crate::stats::StackWriter;
use core::ffi::CStr;
use core::fmt::Write;

/// Settings from one source; `None` = not given there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub purge_delay_ms: Option<u64>,
    pub dirty_min_bytes: Option<usize>,
    pub dirty_fraction: Option<usize>,
    pub background_purge: Option<bool>,
    pub show_stats: Option<bool>,
    pub verbose: Option<bool>,
}

/// Reads every variable through `lookup` (the environment, or a test's
/// table), warning through `warn` (one whole line per bad value).
pub(crate) fn from_lookup<'a>(
    lookup: impl Fn(&CStr) -> Option<&'a [u8]>,
    warn: &mut dyn FnMut(&[u8]),
) -> Parsed {
    let mut one = |name: &CStr, expect: &str, parse: &dyn Fn(&[u8]) -> Option<u64>| {
        let raw = trim(lookup(name)?);
        if raw.is_empty() {
            return None;
        }
        let v = parse(raw);
        if v.is_none() {
            warn_bad(warn, name, raw, expect);
        }
        v
    };
    let boolean = |s: &[u8]| parse_bool(s).map(u64::from);
    let show = one(c"MEMALLOC_SHOW_STATS", "1 or 0", &boolean);
    let verbose = one(c"MEMALLOC_VERBOSE", "1 or 0", &boolean);
    let background = one(c"MEMALLOC_BACKGROUND_PURGE", "1 or 0", &boolean);
    let delay = one(
        c"MEMALLOC_PURGE_DELAY_MS",
        "milliseconds, 0 to 86400000",
        &parse_delay_ms,
    );
    let min = one(
        c"MEMALLOC_DIRTY_MIN_BYTES",
        "bytes, optionally with K, M or G",
        &|s: &[u8]| parse_bytes(s).map(|b| b as u64),
    );
    let fraction = one(
        c"MEMALLOC_DIRTY_FRACTION",
        "1/N with N at least 1",
        &|s: &[u8]| parse_fraction(s).map(|n| n as u64),
    );
    Parsed {
        purge_delay_ms: delay,
        dirty_min_bytes: min.map(|b| b as usize),
        dirty_fraction: fraction.map(|n| n as usize),
        background_purge: background.map(|b| b != 0),
        show_stats: show.map(|b| b != 0),
        verbose: verbose.map(|b| b != 0),
    }
}

/// `memalloc: ignoring MEMALLOC_X="value" (expected ...)`: the setting
/// keeps the program's value, or the default.
fn warn_bad(warn: &mut dyn FnMut(&[u8]), name: &CStr, raw: &[u8], expect: &str) {
    let mut w = StackWriter::<256>::new();
    let name = core::str::from_utf8(name.to_bytes()).unwrap_or("?");
    let _ = write!(w, "memalloc: ignoring {name}=\"");
    // At most 40 bytes of the value, anything unprintable as '?'.
    for &b in raw.iter().take(40) {
        let c = if b.is_ascii_graphic() || b == b' ' {
            b as char
        } else {
            '?'
        };
        let _ = w.write_char(c);
    }
    let more = if raw.len() > 40 { "..." } else { "" };
    let _ = writeln!(w, "{more}\" (expected {expect})");
    warn(w.as_bytes());
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`, any case.
pub(crate) fn parse_bool(s: &[u8]) -> Option<bool> {
    const ON: [&[u8]; 4] = [b"1", b"true", b"yes", b"on"];
    const OFF: [&[u8]; 4] = [b"0", b"false", b"no", b"off"];
    let s = trim(s);
    if ON.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if OFF.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

/// A decimal number without sign, with no overflow.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Milliseconds, at most [`MAX_PURGE_DELAY_MS`].
pub(crate) fn parse_delay_ms(s: &[u8]) -> Option<u64> {
    parse_decimal(trim(s)).filter(|&ms| ms <= MAX_PURGE_DELAY_MS)
}

/// Bytes with an optional binary suffix: `K`/`KiB`, `M`/`MiB`, `G`/`GiB`
/// (any case), at most `isize::MAX`.
pub(crate) fn parse_bytes(s: &[u8]) -> Option<usize> {
    let s = trim(s);
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let (num, suffix) = s.split_at(digits);
    // No `to_ascii_lowercase`: it allocates, and this may run in `malloc`.
    let suffix = suffix.trim_ascii_start();
    let is = |words: &[&[u8]]| words.iter().any(|w| suffix.eq_ignore_ascii_case(w));
    let shift = if is(&[b"", b"b"]) {
        0
    } else if is(&[b"k", b"kib", b"kb"]) {
        10
    } else if is(&[b"m", b"mib", b"mb"]) {
        20
    } else if is(&[b"g", b"gib", b"gb"]) {
        30
    } else {
        return None;
    };
    let n = parse_decimal(num)?;
    let bytes = n.checked_mul(1u64 << shift)?;
    usize::try_from(bytes)
        .ok()
        .filter(|&b| b <= isize::MAX as usize)
}

/// `1/N` with N ≥ 1; returns N.
pub(crate) fn parse_fraction(s: &[u8]) -> Option<usize> {
    let s = trim(s);
    let slash = s.iter().position(|&b| b == b'/')?;
    let (num, den) = (trim(&s[..slash]), trim(&s[slash + 1..]));
    if parse_decimal(num)? != 1 {
        return None;
    }
    let n = usize::try_from(parse_decimal(den)?).ok()?;
    (n >= 1).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_the_usual_words_in_any_case() {
        for on in ["1", "true", "TRUE", "Yes", "on", " 1 "] {
            assert_eq!(parse_bool(on.as_bytes()), Some(true), "{on}");
        }
        for off in ["0", "false", "No", "OFF"] {
            assert_eq!(parse_bool(off.as_bytes()), Some(false), "{off}");
        }
        for bad in ["", "2", "maybe", "1x", "-1"] {
            assert_eq!(parse_bool(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn delays_are_decimal_milliseconds_up_to_a_day() {
        assert_eq!(parse_delay_ms(b"0"), Some(0));
        assert_eq!(parse_delay_ms(b"250"), Some(250));
        assert_eq!(parse_delay_ms(b"86400000"), Some(MAX_PURGE_DELAY_MS));
        for bad in [
            "86400001",
            "-5",
            "1.5",
            "100ms",
            "",
            "abc",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_delay_ms(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn byte_sizes_take_binary_suffixes_and_reject_overflow() {
        assert_eq!(parse_bytes(b"0"), Some(0));
        assert_eq!(parse_bytes(b"4096"), Some(4096));
        assert_eq!(parse_bytes(b"16K"), Some(16 << 10));
        assert_eq!(parse_bytes(b"8 MiB"), Some(8 << 20));
        assert_eq!(parse_bytes(b"2g"), Some(2 << 30));
        assert_eq!(parse_bytes(b"100b"), Some(100));
        for bad in [
            "",
            "M",
            "8T",
            "-1",
            "1.5M",
            "8 M B",
            "99999999999999999999G",
            "9223372036854775808",
        ] {
            assert_eq!(parse_bytes(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn fractions_are_one_over_a_positive_integer() {
        assert_eq!(parse_fraction(b"1/8"), Some(8));
        assert_eq!(parse_fraction(b" 1 / 4 "), Some(4));
        assert_eq!(parse_fraction(b"1/1"), Some(1));
        for bad in ["1/0", "2/8", "8", "0.125", "1/", "/8", "1/-8", "1/8/2"] {
            assert_eq!(parse_fraction(bad.as_bytes()), None, "{bad}");
        }
    }

    /// Parses `vars` as the environment, collecting the warning lines.
    fn parse_env(vars: &[(&str, &str)]) -> (Parsed, Vec<String>) {
        let owned: Vec<(std::ffi::CString, Vec<u8>)> = vars
            .iter()
            .map(|(k, v)| (std::ffi::CString::new(*k).unwrap(), v.as_bytes().to_vec()))
            .collect();
        let mut warnings = Vec::new();
        let parsed = from_lookup(
            |name| {
                owned
                    .iter()
                    .find(|(k, _)| k.as_c_str() == name)
                    .map(|(_, v)| v.as_slice())
            },
            &mut |line| warnings.push(String::from_utf8_lossy(line).into_owned()),
        );
        (parsed, warnings)
    }

    #[test]
    fn every_variable_is_read_into_its_setting() {
        let (p, warnings) = parse_env(&[
            ("MEMALLOC_SHOW_STATS", "1"),
            ("MEMALLOC_VERBOSE", "0"),
            ("MEMALLOC_BACKGROUND_PURGE", "yes"),
            ("MEMALLOC_PURGE_DELAY_MS", "1500"),
            ("MEMALLOC_DIRTY_MIN_BYTES", "32M"),
            ("MEMALLOC_DIRTY_FRACTION", "1/16"),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            p,
            Parsed {
                purge_delay_ms: Some(1500),
                dirty_min_bytes: Some(32 << 20),
                dirty_fraction: Some(16),
                background_purge: Some(true),
                show_stats: Some(true),
                verbose: Some(false),
            }
        );
    }

    #[test]
    fn unset_and_empty_variables_leave_their_settings_unset() {
        let (p, warnings) = parse_env(&[("MEMALLOC_VERBOSE", ""), ("MEMALLOC_OTHER", "1")]);
        assert_eq!(p, Parsed::default());
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn bad_values_warn_once_each_on_one_line_and_leave_the_setting_unset() {
        let long = "9".repeat(100);
        let (p, warnings) = parse_env(&[
            ("MEMALLOC_SHOW_STATS", "maybe"),
            ("MEMALLOC_PURGE_DELAY_MS", "-3"),
            ("MEMALLOC_DIRTY_MIN_BYTES", &long),
            ("MEMALLOC_DIRTY_FRACTION", "1/0"),
            ("MEMALLOC_VERBOSE", "1"),
        ]);
        assert_eq!(
            p,
            Parsed {
                verbose: Some(true),
                ..Parsed::default()
            },
            "only the good value is taken"
        );
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        for (w, name) in warnings.iter().zip([
            "MEMALLOC_SHOW_STATS=\"maybe\"",
            "MEMALLOC_PURGE_DELAY_MS=\"-3\"",
            "MEMALLOC_DIRTY_MIN_BYTES=\"9999",
            "MEMALLOC_DIRTY_FRACTION=\"1/0\"",
        ]) {
            assert!(w.starts_with("memalloc: ignoring "), "{w}");
            assert!(w.contains(name), "{w} names {name}");
            assert!(w.ends_with(")\n"), "{w}");
            assert_eq!(w.matches('\n').count(), 1, "one line: {w}");
        }
        assert!(warnings[2].contains("...\""), "a long value is cut short");
    }
}
