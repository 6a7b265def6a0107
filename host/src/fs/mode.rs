//! Python open-mode strings.

use crate::error::{ErrorCode, FsResult};

/// A parsed Python mode string (`r`, `w+b`, `ab`, `x`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenMode {
    /// Reading allowed (`r` or `+`).
    pub read: bool,
    /// Writing allowed (`w`, `a`, `x` or `+`).
    pub write: bool,
    /// Writes go to the end (`a`).
    pub append: bool,
    /// Create if missing (`w`, `a`, `x`).
    pub create: bool,
    /// Fail if present (`x`).
    pub exclusive: bool,
    /// Truncate on open (`w`).
    pub truncate: bool,
    /// Text mode (no `b`).
    pub text: bool,
}

impl OpenMode {
    /// Parse: exactly one of `rwax`, at most one `+`, at most one of `b`/`t`, no other
    /// characters, no repeats, in any order. Anything else is `invalid`.
    pub fn parse(mode: &str) -> FsResult<OpenMode> {
        let mut base = None;
        let mut plus = false;
        let mut binary = None;
        for c in mode.chars() {
            match c {
                'r' | 'w' | 'a' | 'x' if base.is_none() => base = Some(c),
                '+' if !plus => plus = true,
                'b' | 't' if binary.is_none() => binary = Some(c == 'b'),
                _ => return Err(ErrorCode::Invalid),
            }
        }
        let base = base.ok_or(ErrorCode::Invalid)?;
        Ok(OpenMode {
            read: base == 'r' || plus,
            write: base != 'r' || plus,
            append: base == 'a',
            create: base != 'r',
            exclusive: base == 'x',
            truncate: base == 'w',
            text: binary != Some(true),
        })
    }

    /// The canonical spelling: base letter, then `b` if binary, then `+` (e.g. `"rb+"`, `"w"`).
    pub fn canonical(&self) -> String {
        let base = if self.exclusive {
            'x'
        } else if self.append {
            'a'
        } else if self.truncate {
            'w'
        } else {
            'r'
        };
        let mut out = String::with_capacity(3);
        out.push(base);
        if !self.text {
            out.push('b');
        }
        // `+` unless the base letter alone already gives this access.
        if self.read && self.write {
            out.push('+');
        }
        out
    }

    /// Whether the mode can create a file (`w`, `a`, `x`): what temporary files need.
    pub fn creates(&self) -> bool {
        self.create
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(
        read: bool,
        write: bool,
        append: bool,
        create: bool,
        excl: bool,
        trunc: bool,
        text: bool,
    ) -> OpenMode {
        OpenMode {
            read,
            write,
            append,
            create,
            exclusive: excl,
            truncate: trunc,
            text,
        }
    }

    #[test]
    fn valid_modes() {
        let f = false;
        let t = true;
        let cases = [
            ("r", m(t, f, f, f, f, f, t), "r"),
            ("rt", m(t, f, f, f, f, f, t), "r"),
            ("rb", m(t, f, f, f, f, f, f), "rb"),
            ("br", m(t, f, f, f, f, f, f), "rb"),
            ("r+", m(t, t, f, f, f, f, t), "r+"),
            ("r+b", m(t, t, f, f, f, f, f), "rb+"),
            ("+rb", m(t, t, f, f, f, f, f), "rb+"),
            ("w", m(f, t, f, t, f, t, t), "w"),
            ("wb", m(f, t, f, t, f, t, f), "wb"),
            ("w+", m(t, t, f, t, f, t, t), "w+"),
            ("w+b", m(t, t, f, t, f, t, f), "wb+"),
            ("a", m(f, t, t, t, f, f, t), "a"),
            ("ab+", m(t, t, t, t, f, f, f), "ab+"),
            ("x", m(f, t, f, t, t, f, t), "x"),
            ("xb", m(f, t, f, t, t, f, f), "xb"),
            ("x+t", m(t, t, f, t, t, f, t), "x+"),
        ];
        for (input, want, canon) in cases {
            let got = OpenMode::parse(input).unwrap();
            assert_eq!(got, want, "{input:?}");
            assert_eq!(got.canonical(), canon, "{input:?}");
            // The canonical form parses back to the same mode.
            assert_eq!(OpenMode::parse(canon).unwrap(), want, "{canon:?}");
        }
    }

    #[test]
    fn invalid_modes() {
        for bad in [
            "", "rw", "rr", "r++", "bt", "z", "rU", "U", "b", "+", "t", "rbb", "rtt", "wa", "r ",
            " r", "R", "rb+x", "r\0", "é",
        ] {
            assert_eq!(OpenMode::parse(bad), Err(ErrorCode::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn creates() {
        assert!(!OpenMode::parse("r+b").unwrap().creates());
        for mode in ["w", "a", "x", "w+b"] {
            assert!(OpenMode::parse(mode).unwrap().creates(), "{mode}");
        }
    }
}
