//! Python open-mode strings.

use crate::error::FsResult;

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
        todo!("{mode}")
    }

    /// The canonical spelling: base letter, then `b` if binary, then `+` (e.g. `"rb+"`, `"w"`).
    pub fn canonical(&self) -> String {
        todo!()
    }
}
